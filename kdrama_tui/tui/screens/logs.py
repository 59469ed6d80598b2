"""Logs: the server's log records, live, filtered by level."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label, RichLog, Select

from kdrama_tui.tui.formatting import clock_time
from kdrama_tui.tui.screens.base import SectionScreen

LEVELS = ("INFO", "WARNING", "ERROR")
LEVEL_NUMBERS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red"}


class LogsScreen(SectionScreen):
    SECTION = "logs"
    CSS_PATH = "logs.tcss"
    BINDINGS = [
        Binding("l", "next_level", "Level"),
        Binding("c", "clear", "Clear"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        def __init__(self, records: list[dict[str, Any]]) -> None:
            super().__init__()
            self.records = records

    def __init__(self) -> None:
        super().__init__()
        self.level = "INFO"
        self.last_id = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="toolbar", id="log-toolbar"):
            yield Label("Minimum level ", classes="muted")
            yield Select([(name, name) for name in LEVELS], value="INFO", allow_blank=False, id="level")
        yield RichLog(id="log", max_lines=5000, wrap=True, markup=False, auto_scroll=True)

    def on_mount(self) -> None:  # SectionScreen.on_mount runs as well (Textual calls each class's)
        self.kapp.server_logs.subscribe(self, self._on_record)

    @work(exclusive=True, group="logs.load", description="Load the server log", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.logs(self.level, limit=1000)))

    def on_logs_screen_loaded(self, message: Loaded) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        self.last_id = 0
        for record in message.records:
            self._write(record)

    def _on_record(self, record: dict[str, Any]) -> None:
        if int(record.get("id") or 0) > self.last_id and \
                int(record.get("levelno") or 0) >= LEVEL_NUMBERS[self.level]:
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self.last_id = max(self.last_id, int(record.get("id") or 0))
        level = str(record.get("level", ""))
        line = Text(f"{clock_time(record.get('ts'))} ", style="dim")
        line.append(f"{level:<7} ", style=LEVEL_STYLES.get(level, "green"))
        line.append(f"{record.get('logger', '')}: ", style="dim")
        line.append(str(record.get("message", "")))
        self.query_one("#log", RichLog).write(line)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "level" and isinstance(event.value, str) and event.value != self.level:
            self.level = event.value
            self.reload()

    def action_next_level(self) -> None:
        self.query_one("#level", Select).value = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]

    def action_clear(self) -> None:
        self.query_one("#log", RichLog).clear()
