"""Settings: the server's effective configuration (file < environment), secrets masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from kdrama_tui.tui.screens.tables import TableSection


def flatten(settings: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``{"server": {"port": 8080}}`` -> ``("server.port", "8080")``, in the server's order."""
    for section, values in settings.items():
        if isinstance(values, dict):
            for key, value in values.items():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                yield f"{section}.{key}", text
        else:
            yield section, str(values)


class SettingsScreen(TableSection):
    SECTION = "settings"
    TABLE = "settings"
    CSS_PATH = "settings.tcss"
    BINDINGS = [Binding("r", "reload", "Refresh")]

    class Loaded(Message):
        def __init__(self, body: dict[str, Any]) -> None:
            super().__init__()
            self.body = body

    def compose_body(self) -> ComposeResult:
        yield Static("", id="source", classes="toolbar muted", markup=False)
        table: DataTable[str] = DataTable(id="settings", cursor_type="row", zebra_stripes=True)
        table.add_columns("Setting", "Value")
        yield table

    def empty_text(self, table_id: str) -> str:
        return "the server sent no settings"

    @work(exclusive=True, group="settings.load", description="Load settings", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.settings()))

    def on_settings_screen_loaded(self, message: Loaded) -> None:
        source = message.body.get("source_file")
        self.query_one("#source", Static).update(
            f"defaults < {source or 'no config file'} < KDRAMA_* environment · secrets shown as ***")
        self.fill_table(self.query_one("#settings", DataTable),
                        ((name, (name, value)) for name, value in flatten(message.body["settings"])))
