"""Sign in to an attached server: username and password (JWT login), or an API key."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


@dataclass(frozen=True)
class Credentials:
    login: str = ""
    password: str = ""
    api_key: str = ""


class LoginScreen(ModalScreen[Credentials | None]):
    CSS_PATH = "modal.tcss"
    BINDINGS = [Binding("escape", "cancel", "Quit")]

    def __init__(self, url: str, problem: str = "") -> None:
        super().__init__()
        self.url = url
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="login"):
            yield Label(f"Sign in to {self.url} as an admin", classes="question", markup=False)
            yield Static(self.problem, id="problem", classes="error", markup=False)
            yield Input(placeholder="username or email", id="login-name", compact=True)
            yield Input(placeholder="password", password=True, id="login-password", compact=True)
            yield Label("or an API key of an admin account:")
            yield Input(placeholder="kd_…", password=True, id="login-key", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Sign in", id="sign-in", variant="primary", compact=True)
                yield Button("Quit", id="quit", compact=True)

    def on_mount(self) -> None:
        self.query_one("#problem", Static).display = bool(self.problem)
        self.query_one("#login-name", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "login-name":
            self.query_one("#login-password", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sign-in":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        name = self.query_one("#login-name", Input).value.strip()
        password = self.query_one("#login-password", Input).value
        key = self.query_one("#login-key", Input).value.strip()
        if key:
            self.dismiss(Credentials(api_key=key))
        elif name and password:
            self.dismiss(Credentials(login=name, password=password))
        else:
            problem = self.query_one("#problem", Static)
            problem.update("give a username and password, or an API key")
            problem.display = True
