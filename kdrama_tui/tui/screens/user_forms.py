"""Dialogs of the Users section: a new account, a new password."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.validation import Function, Length, Regex
from textual.widgets import Input, Select

from kdrama_tui.tui.screens.forms import FormModal

USERNAME_PATTERN = r"[A-Za-z0-9_.\-]{3,50}"
EMAIL_PATTERN = r"[^@\s]{1,64}@[^@\s]{1,255}"
MIN_PASSWORD = 8


@dataclass(frozen=True)
class NewUser:
    username: str
    email: str
    password: str
    role: str


def _password_inputs() -> ComposeResult:
    yield FormModal.field("Password (at least 8 characters)")
    yield Input(placeholder="password", password=True, id="password",
                validators=[Length(minimum=MIN_PASSWORD, maximum=1024)], compact=True)
    yield FormModal.field("Password again")
    yield Input(placeholder="password again", password=True, id="password2", compact=True)


class NewUserModal(FormModal[NewUser]):
    TITLE_TEXT = "New account"
    SUBMIT_LABEL = "Create"

    def compose_fields(self) -> ComposeResult:
        yield self.field("Username (3-50 letters, digits, . _ -)")
        yield Input(placeholder="username", id="username", validators=[Regex(USERNAME_PATTERN)], compact=True)
        yield self.field("Email")
        yield Input(placeholder="email", id="email",
                    validators=[Regex(EMAIL_PATTERN), Function(lambda v: len(v) <= 100, "at most 100 characters")],
                    compact=True)
        yield from _password_inputs()
        yield self.field("Role")
        yield Select([("user", "user"), ("admin", "admin")], value="user", allow_blank=False, id="role", compact=True)

    def collect(self) -> NewUser:
        password = self.query_one("#password", Input).value
        if password != self.query_one("#password2", Input).value:
            raise ValueError("the two passwords differ")
        return NewUser(self.value("username"), self.value("email"), password,
                       str(self.query_one("#role", Select).value))


class PasswordModal(FormModal[str]):
    SUBMIT_LABEL = "Set password"

    def __init__(self, username: str) -> None:
        super().__init__()
        self.TITLE_TEXT = f"New password for {username} (logs them out everywhere)"

    def compose_fields(self) -> ComposeResult:
        yield from _password_inputs()

    def collect(self) -> str:
        password = self.query_one("#password", Input).value
        if password != self.query_one("#password2", Input).value:
            raise ValueError("the two passwords differ")
        return password
