"""What shows before the sections exist: starting the server, or connecting to one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static


class StartupScreen(Screen[None]):
    CSS_PATH = "startup.tcss"
    BINDINGS = [("q", "app.quit", "Quit")]

    def __init__(self) -> None:
        super().__init__()
        self.text = "Starting…"

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static("kdrama-tui", id="title")
            yield Static(self.text, id="status")

    def show(self, text: str) -> None:
        self.text = text
        for status in self.query("#status").results(Static):  # absent until composed
            status.update(text)
