"""Settings: the server's effective configuration, readable: sizes and durations in human units, where
each value came from (default, config file, environment), its description, and the derived folders."""

from __future__ import annotations

import json
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from kdrama_tui.tui.formatting import human_bytes, human_duration, truncate
from kdrama_tui.tui.screens.tables import TableSection

_SECONDS = {"ms": 0.001, "seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def human_value(value: Any, kind: str) -> str:
    """``52428800`` of kind size -> "50.0 MiB"; ``240.0`` minutes -> "4h"; anything else as written."""
    if kind == "size" and isinstance(value, int):
        return human_bytes(value)
    if kind in _SECONDS and isinstance(value, int | float) and not isinstance(value, bool):
        return human_duration(value * _SECONDS[kind]) if value else "0"
    if isinstance(value, str):
        return value or "(empty)"
    return json.dumps(value, ensure_ascii=False)


def keep_end(text: str, width: int) -> str:
    """Long values (paths, URLs) keep their end, the part that differs: "…/data/backups"."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def origin_label(origin: str) -> str:
    return {"default": "default", "file": "config file"}.get(origin, origin.replace("environment ", "env "))


class SettingsScreen(TableSection):
    SECTION = "settings"
    TABLE = "settings"
    CSS_PATH = "settings.tcss"
    BINDINGS = [Binding("r", "reload", "Refresh")]

    class Loaded(Message):
        def __init__(self, body: dict[str, Any]) -> None:
            super().__init__()
            self.body = body

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("", id="source", classes="toolbar muted", markup=False)
        table: DataTable[str] = DataTable(id="settings", cursor_type="row", zebra_stripes=True)
        table.add_columns("Setting", "Value", "From", "Description")
        yield table
        yield Static("", id="setting-detail", classes="detail", markup=False)

    def empty_text(self, table_id: str) -> str:
        return "the server sent no settings"

    @work(exclusive=True, group="settings.load", description="Load settings", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.settings()))

    def on_settings_screen_loaded(self, message: Loaded) -> None:
        body = message.body
        source = body.get("source_file")
        self.query_one("#source", Static).update(
            f"defaults < {source or 'no config file'} < KDRAMA_* environment · secrets shown as ***")
        self.rows = {item["name"]: item for item in body.get("items", [])}
        for item in body.get("derived", []):
            self.rows[item["name"]] = {"name": item["name"], "value": item["value"], "kind": "",
                                       "origin": "derived", "doc": f"derived from {item['from']}"}
        self.fill_table(self.query_one("#settings", DataTable), (
            (name, (name, keep_end(human_value(r["value"], r["kind"]), 48), origin_label(r["origin"]),
                    truncate(r.get("doc") or "", 80)))
            for name, r in self.rows.items()))
        self._detail()

    @on(DataTable.RowHighlighted, "#settings")
    def _detail(self) -> None:
        row = self.rows.get(self.selected_key(self.query_one("#settings", DataTable)) or "")
        if row is None:
            return
        value = row["value"]
        exact = f" ({value} {'bytes' if row['kind'] == 'size' else row['kind']})" if row["kind"] else ""
        default = "" if row["origin"] == "derived" else \
            f" · default {human_value(row.get('default'), row['kind'])}"
        self.query_one("#setting-detail", Static).update(
            f"{row['name']} = {human_value(value, row['kind'])}{exact} · from {origin_label(row['origin'])}"
            f"{default}\n{row.get('doc') or ''}")
