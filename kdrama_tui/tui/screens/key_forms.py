"""Dialogs of the API keys section: what to issue, and the new key, shown this once."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Function, Length
from textual.widgets import Button, Input, Label, Select, Static

from kdrama_tui.tui.results import User
from kdrama_tui.tui.screens.forms import FormModal


@dataclass(frozen=True)
class KeyRequest:
    user_id: int
    name: str
    expires_days: float | None


def _days_ok(text: str) -> bool:
    if not text.strip():
        return True
    try:
        return 0 < float(text) <= 36500
    except ValueError:
        return False


class IssueKeyModal(FormModal[KeyRequest]):
    TITLE_TEXT = "Issue an API key"
    SUBMIT_LABEL = "Issue"

    def __init__(self, users: list[User]) -> None:
        super().__init__()
        self.users = [u for u in users if u.is_active]

    def compose_fields(self) -> ComposeResult:
        yield self.field("For")
        yield Select([(f"{u.username} ({u.role})", u.id) for u in self.users], id="user",
                     prompt="choose an account", compact=True)
        yield self.field("Name (to tell keys apart)")
        yield Input(placeholder="name", id="name", validators=[Length(maximum=100)], compact=True)
        yield self.field("Expires after days (empty: never)")
        yield Input(placeholder="days", id="expires", validators=[Function(_days_ok, "a number of days > 0")],
                    compact=True)

    def collect(self) -> KeyRequest:
        user = self.query_one("#user", Select).value
        if not isinstance(user, int):
            raise ValueError("choose the account the key is for")
        days = self.value("expires")
        return KeyRequest(user, self.value("name"), float(days) if days else None)


class KeyIssuedModal(ModalScreen[None]):
    """The key in full, once: the server keeps only its hash."""

    CSS_PATH = "modal.tcss"
    BINDINGS = [Binding("escape,enter", "close", "Done"), Binding("c", "copy", "Copy")]

    def __init__(self, key: str, owner: str) -> None:
        super().__init__()
        self.key = key
        self.owner = owner

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="key-issued"):
            yield Label(f"New API key for {self.owner}", classes="question", markup=False)
            yield Static(self.key, id="secret", markup=False)
            yield Static("Store it now: it is not shown again. Send it as the X-API-Key header.", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", id="copy", compact=True)
                yield Button("Done", id="done", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.key)  # OSC 52: reaches the admin's own clipboard over SSH too
        self.notify("copied to the clipboard (if the terminal allows it)", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
