"""The Textual dashboard: sections as modes, one live event stream, every action through ``AdminClient``.

All-in-one (``kdrama-tui run``) passes a :class:`LocalSystem` (the server's host), started on mount inside
this app's loop and stopped on exit; ``kdrama-tui console`` passes a client for a server elsewhere. The
dashboard never imports the server: it knows the host only through that protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from kdrama_tui.errors import StartupError
from kdrama_tui.tui.client import AdminClient, ApiError
from kdrama_tui.tui.messages import (
    Connected,
    ConnectionFailed,
    LogRecordReceived,
    ServerEventReceived,
    StreamStateChanged,
)
from kdrama_tui.tui.screens.api_keys import ApiKeysScreen
from kdrama_tui.tui.screens.backups import BackupsScreen
from kdrama_tui.tui.screens.base import RESYNC_EVENT
from kdrama_tui.tui.screens.comments import CommentsScreen
from kdrama_tui.tui.screens.dashboard import DashboardScreen
from kdrama_tui.tui.screens.help import HelpScreen
from kdrama_tui.tui.screens.jobs import JobsScreen
from kdrama_tui.tui.screens.login import Credentials, LoginScreen
from kdrama_tui.tui.screens.logs import LogsScreen
from kdrama_tui.tui.screens.quit import DETACH, STOP, QuitModal, detach_command
from kdrama_tui.tui.screens.series import SeriesScreen
from kdrama_tui.tui.screens.settings import SettingsScreen
from kdrama_tui.tui.screens.startup import StartupScreen
from kdrama_tui.tui.screens.uploads import UploadsScreen
from kdrama_tui.tui.screens.users import UsersScreen
from kdrama_tui.tui.screens.videos import VideosScreen
from kdrama_tui.tui.widgets.nav import SECTION_TITLES, SECTIONS

log = logging.getLogger(__name__)


# Each section is a mode with its own screen stack, so a dialog open in one survives a visit to another.
SECTION_SCREENS: dict[str, type[Screen[Any]]] = {
    "dashboard": DashboardScreen, "videos": VideosScreen, "uploads": UploadsScreen, "jobs": JobsScreen,
    "users": UsersScreen, "keys": ApiKeysScreen, "comments": CommentsScreen, "backups": BackupsScreen,
    "logs": LogsScreen, "settings": SettingsScreen,
}
SECTION_SCREENS["series"] = SeriesScreen



def section_bindings(screen: Screen[Any]) -> list[Binding]:
    """A section's own actions (one per action, in its order), not its widgets' cursor keys."""
    seen: set[str] = set()
    found = []
    for cls in type(screen).__mro__:  # the section's own first, then what its kind of screen shares
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.description and binding.action not in seen:
                seen.add(binding.action)
                found.append(binding)
    return found


class Reachable(Protocol):
    base_url: str  # the admin API's loopback address
    token: str  # an admin token that lives only in this process's memory


class LocalSystem(Protocol):
    """A server this process runs itself (``server.host.Host``), as the dashboard needs it."""

    on_restart: Callable[[], None] | None

    async def start(self) -> Reachable: ...

    async def stop(self) -> None: ...


class KdramaApp(App[None]):
    TITLE = "kdrama-tui"
    CSS_PATH = ["app.tcss"]
    MODES = dict(SECTION_SCREENS)
    BINDINGS = [
        *(Binding(key, f"section('{mode}')", SECTION_TITLES[mode], show=False)
          for mode, key, _ in SECTIONS if mode in SECTION_SCREENS),
        Binding("q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Help", key_display="?", show=False),  # 80 columns: no room
    ]

    def __init__(self, client: AdminClient | None = None, *, system: LocalSystem | None = None,
                 clock: Callable[[], float] = time.time,
                 client_class: type[AdminClient] = AdminClient) -> None:
        """``client`` for a server elsewhere, or ``system`` to start one here; ``clock`` and
        ``client_class`` exist so tests can freeze time and pin volatile figures."""
        super().__init__()
        self.client = client
        self.system = system
        self.clock = clock
        self.client_class = client_class
        self.restart_requested = False
        if system is not None:
            system.on_restart = self._restart
        self.connected = False
        self.startup_error: str | None = None
        self.server_events: Signal[dict[str, Any]] = Signal(self, "server-events")
        self.server_logs: Signal[dict[str, Any]] = Signal(self, "server-logs")
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=100)
        self._last_event_id = 0
        self._boot: str | None = None  # which server process the event ids belong to
        self.stream_up: bool | None = None  # None until the first connection
        self.identity = ""  # the signed-in admin, once connected
        self.mode = "all-in-one" if system is not None else "console"

    def get_default_screen(self) -> Screen[Any]:
        return StartupScreen()

    # ---- start-up and sign-in ----------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.system is not None:
            self.start_system()
        elif self.client is not None and (self.client.api_key or self.client.access_token):
            self.connect()
        else:
            self.ask_credentials("")

    @work(exclusive=True, group="connect", description="Start the server", exit_on_error=False)
    async def start_system(self) -> None:
        assert self.system is not None
        self.status("Starting the server…")
        connection = await self.system.start()
        self.client = self.client_class(connection.base_url, access_token=connection.token)
        await self.client.stats()
        await self.learn_identity()
        self.post_message(Connected())

    @work(exclusive=True, group="connect", description="Connect to the server", exit_on_error=False)
    async def connect(self, credentials: Credentials | None = None) -> None:
        assert self.client is not None
        self.status(f"Connecting to {self.client.base_url}…")
        if credentials is not None:
            if credentials.api_key:
                self.client.api_key = credentials.api_key
            else:
                await self.client.login(credentials.login, credentials.password)
        await self.client.stats()  # proves the credentials and the admin role in one call
        await self.learn_identity()
        self.post_message(Connected())

    async def learn_identity(self) -> None:
        """Who is signed in, for the header and the Dashboard: "root (api key)", "local-admin (local)"."""
        assert self.client is not None
        with contextlib.suppress(ApiError):
            me = await self.client.me()
            via = str(me.get("auth_method") or "").replace("_", " ")
            self.identity = f"{me.get('username')}" + (f" ({via})" if via else "")

    def status(self, text: str) -> None:
        if isinstance(self.screen, StartupScreen):
            self.screen.show(text)

    def ask_credentials(self, problem: str) -> None:
        assert self.client is not None

        def answered(credentials: Credentials | None) -> None:
            if credentials is None:
                self.exit()
            else:
                self.connect(credentials)

        self.push_screen(LoginScreen(self.client.base_url, problem), answered)

    def on_connected(self, _: Connected) -> None:
        self.connected = True
        self.switch_mode("dashboard")
        self.follow_events()

    def on_connection_failed(self, message: ConnectionFailed) -> None:
        if self.system is not None:  # all-in-one: nothing to retry with; report and leave
            self.startup_error = message.message
            self.exit(return_code=1)
        else:
            self.ask_credentials(message.message)

    # ---- the live stream ---------------------------------------------------------------------------
    @work(exclusive=True, group="events", description="Follow the server's live events", exit_on_error=False)
    async def follow_events(self) -> None:
        """Relay /api/admin/events into messages; reconnect with backoff when the connection drops."""
        assert self.client is not None
        delay = 1.0
        while True:
            try:
                first = True
                async for item in self.client.stream(history=50, after=self._last_event_id, boot=self._boot,
                                                     logs="INFO"):
                    if first:
                        self.post_message(StreamStateChanged(True))
                        first, delay = False, 1.0
                    kind = item.get("kind")
                    if kind == "hello":
                        if item.get("boot") != self._boot:
                            self._last_event_id = 0  # a restarted server counts from 1 again
                        self._boot = str(item.get("boot"))
                    elif kind == "log":
                        self.post_message(LogRecordReceived(item))
                    else:
                        self._last_event_id = max(self._last_event_id, int(item.get("id") or 0))
                        self.post_message(ServerEventReceived(item))
                detail = "the server closed the event stream"
            except ApiError as exc:
                if exc.status in (401, 403):
                    self.post_message(StreamStateChanged(False, exc.message))
                    return
                detail = exc.message
            self.post_message(StreamStateChanged(False, detail))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def on_server_event_received(self, message: ServerEventReceived) -> None:
        self.recent_events.append(message.event)
        self.server_events.publish(message.event)

    def on_log_record_received(self, message: LogRecordReceived) -> None:
        self.server_logs.publish(message.record)

    def on_stream_state_changed(self, message: StreamStateChanged) -> None:
        # Only changes are news: a server that stays away must not raise a toast at every retry.
        if message.connected == self.stream_up:
            return
        was_up, self.stream_up = self.stream_up, message.connected
        if not message.connected:
            self.notify(f"live updates paused: {message.detail}", severity="warning", timeout=6, markup=False)
        elif was_up is False:
            self.notify("live updates resumed", timeout=4, markup=False)
            # Every section, shown or not, catches up on what happened while the stream was down.
            self.server_events.publish({"type": RESYNC_EVENT, "data": {}})

    # ---- navigation and commands -------------------------------------------------------------------
    def action_section(self, mode: str) -> None:
        if self.connected and self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        """The current section's help: its summary, its keys (from its own bindings), its columns."""
        screen = self.screen
        if isinstance(screen, HelpScreen) or not self.connected:
            return
        keys = [(self.keys_of(b), b.description) for b in section_bindings(screen)]
        mode = self.current_mode
        self.push_screen(HelpScreen(mode, SECTION_TITLES.get(mode, mode), keys))

    def keys_of(self, binding: Binding) -> str:
        """"d / delete" for a binding of several keys."""
        return " / ".join(self.get_key_display(dataclasses.replace(binding, key=key, key_display=None))
                          for key in binding.key.split(","))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The product's actions: help, sections, the section's own keys; never the widgets' cursor moves."""
        yield SystemCommand("Quit", "Quit kdrama-tui (all in one: asks first, the server stops too)",
                            self.action_quit)
        if not self.connected:
            return
        yield SystemCommand("Help", "Keys and columns of this section (key ? or F1)", self.action_help)
        yield SystemCommand("Theme", "Change the colours", self.action_change_theme)
        for mode, key, _ in SECTIONS:
            if mode not in self.MODES:
                continue
            yield SystemCommand(f"Go to {SECTION_TITLES[mode]}", f"Show the {SECTION_TITLES[mode]} section "
                                f"(key {key})", partial(self.action_section, mode))
        for binding in section_bindings(screen):
            yield SystemCommand(binding.description, f"{SECTION_TITLES.get(self.current_mode, '')}: "
                                f"key {self.keys_of(binding)}", partial(self.run_action, binding.action, screen))

    # ---- failures ----------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "connect":
            text = str(error) if isinstance(error, ApiError | StartupError) else self._unexpected(error)
            status = error.status if isinstance(error, ApiError) else 0
            self.post_message(ConnectionFailed(text, status))
            return
        self.report_worker_error(event.worker)

    def report_worker_error(self, worker: Worker[Any]) -> None:
        """One place where failures become notifications, never tracebacks on the screen."""
        error = worker.error
        text = error.message if isinstance(error, ApiError) else self._unexpected(error)
        self.notify(text, title=worker.description or "failed", severity="error", timeout=8, markup=False)

    @staticmethod
    def _unexpected(error: BaseException | None) -> str:
        log.error("dashboard action failed", exc_info=error)
        return f"unexpected error: {type(error).__name__}: {error}"

    def _restart(self) -> None:
        """The server asked to start again (a restore): leave, and let `run` start this command anew."""
        self.restart_requested = True
        self.exit()

    # ---- shutting down -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Attached to a server elsewhere, quit at once; all in one, ask first: the server stops too."""
        if self.system is None or not self.connected:
            self.exit()
        elif not isinstance(self.screen, QuitModal):
            self.ask_quit()

    @work(exclusive=True, group="quit", description="Read what quitting would stop", exit_on_error=False)
    async def ask_quit(self) -> None:
        stats: dict[str, Any] | None = None
        if self.client is not None:
            with contextlib.suppress(ApiError):
                stats = await self.client.request("GET", "/api/admin/stats", time_limit=3.0)
        if isinstance(self.screen, QuitModal):
            return
        command = detach_command()

        def answered(answer: str | None) -> None:
            if answer == STOP:
                self.exit()
            elif answer == DETACH and command is not None:
                self.detach(command)

        self.push_screen(QuitModal(stats, can_detach=command is not None), answered)

    @work(group="quit", description="Detach the terminal", exit_on_error=False)
    async def detach(self, command: list[str]) -> None:
        process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE)
        _, stderr = await process.communicate()
        if process.returncode != 0:
            self.notify(f"could not detach: {stderr.decode(errors='replace').strip() or process.returncode}",
                        severity="error", markup=False)

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "events")
        if self.client is not None:
            await self.client.logout()  # a password sign-in's refresh token dies with the console
            await self.client.close()
        if self.system is not None:
            await self.system.stop()
