"""What ``q`` asks in the all-in-one mode, where quitting also stops the server viewers are using.

The dialog names what quitting would cut off (viewers watching, uploads and transcodes in flight, from the
admin API's stats) and offers, where the terminal allows it, to detach instead: inside tmux or GNU screen
the dashboard's terminal can be detached while this process goes on serving, and reattached later.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

STOP, DETACH, CANCEL = "stop", "detach", "cancel"


def detach_command(environ: dict[str, str] | None = None) -> list[str] | None:
    """The command that detaches this terminal from a tmux or screen session, or None when the process
    runs in a plain terminal (closing that would end the process with it)."""
    env = os.environ if environ is None else environ
    if env.get("TMUX") and shutil.which("tmux"):
        return ["tmux", "detach-client"]
    if env.get("STY") and shutil.which("screen"):
        return ["screen", "-d", env["STY"]]
    return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def activity_line(stats: dict[str, Any] | None) -> str:
    """"2 viewers watching, 1 upload and 0 transcodes in progress" from /api/admin/stats."""
    if stats is None:
        return "The server's figures could not be read: viewers and uploads may be active."
    viewers = int((stats.get("viewers") or {}).get("active") or 0)
    uploads = int((stats.get("uploads") or {}).get("active") or 0)
    transcodes = int(((stats.get("jobs") or {}).get("by_status") or {}).get("processing") or 0)
    return (f"{_plural(viewers, 'viewer')} watching, {_plural(uploads, 'upload')} and "
            f"{_plural(transcodes, 'transcode')} in progress.")


class QuitModal(ModalScreen[str]):
    """Dismisses with STOP, DETACH or CANCEL."""

    CSS_PATH = "modal.tcss"
    DEFAULT_CSS = "QuitModal Label { width: 1fr; }"  # long lines wrap inside the dialog
    BINDINGS = [
        Binding("q,s", f"answer('{STOP}')", "Quit and stop serving"),
        Binding("d", f"answer('{DETACH}')", "Detach, keep serving"),
        Binding("escape,c,n", f"answer('{CANCEL}')", "Cancel"),
    ]

    def __init__(self, stats: dict[str, Any] | None, *, can_detach: bool) -> None:
        super().__init__()
        self.stats = stats
        self.can_detach = can_detach

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="quit-dialog"):
            yield Label("Quit kdrama-tui? The server stops with it.", classes="question", markup=False)
            yield Label(activity_line(self.stats), id="activity", markup=False)
            if self.can_detach:
                hint = "Detach leaves the server running; reattach to this terminal session to come back."
            else:
                hint = ("To keep serving without this terminal, run the dashboard inside tmux or screen "
                        "(then d detaches), or run `kdrama-tui serve` and attach with `kdrama-tui console`.")
            yield Label(hint, classes="hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Quit and stop serving (q)", id=STOP, variant="error", compact=True)
                if self.can_detach:
                    yield Button("Detach (d)", id=DETACH, variant="primary", compact=True)
                yield Button("Cancel (esc)", id=CANCEL, compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#{CANCEL}", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))

    def action_answer(self, answer: str) -> None:
        if answer == DETACH and not self.can_detach:
            self.notify("detaching needs tmux or screen", severity="warning", markup=False)
            return
        self.dismiss(answer)
