"""What every section screen shares: the nav bar and footer, live reloads, and calling the API.

A section reloads when an event it cares about arrives, but only while it is on screen: hidden sections
just note that they are stale and reload when shown again, so an idle or busy server costs the dashboard
nothing for the screens nobody looks at.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, Protocol, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from kdrama_tui.tui.client import AdminClient
from kdrama_tui.tui.messages import ActionSucceeded
from kdrama_tui.tui.screens.confirm import ConfirmModal
from kdrama_tui.tui.widgets.nav import SECTION_TITLES, NavBar


class ConsoleShell(Protocol):
    """What a section needs from the app around it. Screens know this, not the app class, so the app
    can import every screen without a circle."""

    client: AdminClient | None
    server_events: Signal[dict[str, Any]]
    server_logs: Signal[dict[str, Any]]
    recent_events: deque[dict[str, Any]]
    clock: Callable[[], float]
    identity: str  # the signed-in admin: "root (api key)"
    mode: str  # "all-in-one" or "console"

    def report_worker_error(self, worker: Worker[Any]) -> None: ...


RESYNC_EVENT = "console.resync"  # not from the server: the stream came back, events may have been missed


class SectionScreen(Screen[None]):
    SECTION: ClassVar[str] = ""
    # Event types (prefixes) after which this section's data is out of date.
    RELOAD_ON: ClassVar[tuple[str, ...]] = ()
    RELOAD_DELAY = 0.5  # bursts of events cause one reload

    def __init__(self) -> None:
        super().__init__()
        self._stale = False
        self._reload_timer: Timer | None = None

    @property
    def kapp(self) -> ConsoleShell:
        return cast("ConsoleShell", self.app)

    @property
    def api(self) -> AdminClient:
        client = self.kapp.client
        assert client is not None, "sections only exist once connected"
        return client

    def compose(self) -> ComposeResult:
        who = " · ".join(p for p in (self.kapp.identity, self.kapp.mode) if p)
        yield NavBar(self.SECTION, frozenset(self.app.MODES), who=who)
        yield from self.compose_body()
        yield Footer(compact=True)  # compact: a section's actions fit 80 columns

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = SECTION_TITLES.get(self.SECTION, "")
        self.kapp.server_events.subscribe(self, self._on_server_event)
        self.reload()

    # ---- live updates ----------------------------------------------------------------------------
    def _on_server_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind == RESYNC_EVENT:
            self.mark_stale()
            return
        self.on_server_event(event)
        # Progress (and a job's per-rendition state) arrives about once a second per transfer: screens apply
        # it directly, never refetch.
        if self.RELOAD_ON and kind.startswith(self.RELOAD_ON) and not kind.endswith((".progress", ".ladder")):
            self.mark_stale()

    def on_server_event(self, event: dict[str, Any]) -> None:
        """Apply an event directly (progress bars); override where useful."""

    def mark_stale(self) -> None:
        if not self.is_current:
            self._stale = True
        elif self._reload_timer is None:
            self._reload_timer = self.set_timer(self.RELOAD_DELAY, self._timed_reload)

    def _timed_reload(self) -> None:
        self._reload_timer = None
        self.reload()

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.reload()

    def reload(self) -> None:
        """Fetch this section's data (a worker that posts a message); override."""

    def action_reload(self) -> None:
        self.reload()

    # ---- calling the API -------------------------------------------------------------------------
    def run_call(self, description: str, call: Callable[[], Awaitable[Any]], done: str) -> None:
        """Run a change in a worker; success posts ActionSucceeded, failure becomes a notification."""

        async def work() -> None:
            result = await call()
            self.post_message(ActionSucceeded(done, result))

        self.run_worker(work(), group=f"{self.SECTION}.change", description=description, exit_on_error=False)

    def on_action_succeeded(self, message: ActionSucceeded) -> None:
        self.notify(message.text, timeout=4, markup=False)
        self.reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.kapp.report_worker_error(event.worker)

    def confirm(self, question: str, then: Callable[[], None], *, yes: str = "Yes") -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.app.push_screen(ConfirmModal(question, yes=yes), answered)

    # ---- tables ----------------------------------------------------------------------------------
    @staticmethod
    def selected_key(table: DataTable[Any]) -> str | None:
        """The row key under the cursor, or None for an empty table."""
        if table.row_count == 0:
            return None
        row = table.cursor_coordinate.row
        try:
            return table.coordinate_to_cell_key((row, 0)).row_key.value
        except Exception:  # the cursor was past a row that has just gone
            return None

    @staticmethod
    def fill_table(table: DataTable[Any], rows: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        """Replace the rows, keeping the cursor on the same key where it still exists."""
        previous = SectionScreen.selected_key(table)
        table.clear()
        for key, cells in rows:
            # Text, not str: DataTable parses str cells as markup, and titles or filenames may hold '['.
            table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells), key=key)
        if previous is not None:
            with contextlib.suppress(Exception):  # that row is gone; the cursor stays where clear() left it
                table.move_cursor(row=table.get_row_index(previous), animate=False)
