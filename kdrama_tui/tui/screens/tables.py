"""What every section with a table shares: search with ``/``, sort by key or header click, and an empty
table that says why it is empty.

Sections keep filling their tables with :meth:`fill_table` as before; this class keeps the rows it was
given, shows those matching the search (every word somewhere in the row, any case) in the chosen order,
and writes the sort direction into the column's header. ``s`` sorts by the next column, ``S`` reverses,
a click on a header sorts by that column (again: the other way). Order is the server's until asked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from kdrama_tui.tui.screens.base import SectionScreen

# Columns whose first sort is newest / largest first.
DESCENDING_FIRST = frozenset({"ID", "Year", "Added", "Made", "Queued", "Created", "Issued", "Last used",
                              "Last login", "Started", "When", "Size", "Progress", "Pri", "Try"})
UP, DOWN = " ▲", " ▼"

Row = tuple[str, tuple[Any, ...]] | tuple[str, tuple[Any, ...], tuple[Any, ...]]


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _sort_value(cell: Any) -> tuple[int, Any]:
    text = _plain(cell).strip()
    try:
        return (0, float(text))  # numbers as numbers, before text
    except ValueError:
        return (1, text.casefold())


class TableSection(SectionScreen):
    # Not in the footer: at 80 columns the section's own actions come first (the help and palette list these).
    BINDINGS = [
        Binding("slash", "search_table", "Search", show=False),
        Binding("s", "sort_next", "Sort", show=False),
        Binding("o", "sort_flip", "Reverse sort", show=False),  # S opens the Series section
    ]
    TABLE = ""  # the id of the section's main table (the one "/" and "s" act on)

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, list[tuple[str, tuple[Any, ...], tuple[Any, ...] | None]]] = {}
        self._labels: dict[str, list[str]] = {}
        self.sort_state: dict[str, tuple[int, bool]] = {}  # table id -> (column index, descending)

    def on_mount(self) -> None:  # SectionScreen.on_mount runs too
        for table in self.query(DataTable):
            if table.id is None:
                continue
            table.parent.mount(Input(placeholder="search this table · enter keeps it · esc clears",  # type: ignore[union-attr]
                                     id=f"{table.id}-filter", classes="table-filter", compact=True,
                                     select_on_focus=False), before=table)
            table.parent.mount(Static("", id=f"{table.id}-empty", classes="table-empty", markup=False),  # type: ignore[union-attr]
                               after=table)
            self._labels[table.id] = [_plain(c.label) for c in table.columns.values()]
            self._show_empty(table)

    # ---- what sections override --------------------------------------------------------------------
    def empty_text(self, table_id: str) -> str:
        """Why the table is empty when the server returned nothing (the search is handled here)."""
        return "nothing here yet"

    # ---- filling --------------------------------------------------------------------------------------
    def fill_table(self, table: DataTable[Any], rows: Iterable[Row]) -> None:  # type: ignore[override]
        """Keep ``rows`` ((key, cells) or (key, cells, sort values)) and show them searched and sorted."""
        if table.id is None:
            super().fill_table(table, ((r[0], r[1]) for r in rows))
            return
        self._rows[table.id] = [(r[0], r[1], r[2] if len(r) > 2 else None) for r in rows]  # type: ignore[misc]
        self._show_rows(table)

    def _filter_text(self, table_id: str) -> str:
        with contextlib.suppress(Exception):
            return self.query_one(f"#{table_id}-filter", Input).value.strip()
        return ""

    def _show_rows(self, table: DataTable[Any]) -> None:
        table_id = str(table.id)
        rows = self._rows.get(table_id, [])
        words = self._filter_text(table_id).casefold().split()
        if words:
            rows = [r for r in rows if all(w in " ".join(_plain(c) for c in r[1]).casefold() for w in words)]
        state = self.sort_state.get(table_id)
        if state is not None:
            index, descending = state
            rows = sorted(rows, key=lambda r: r[2][index] if r[2] is not None else _sort_value(r[1][index]),
                          reverse=descending)
        SectionScreen.fill_table(table, ((key, cells) for key, cells, _ in rows))
        self._headers(table)
        self._show_empty(table, searched=bool(words))

    def _headers(self, table: DataTable[Any]) -> None:
        labels = self._labels.get(str(table.id))
        if not labels:
            return
        state = self.sort_state.get(str(table.id))
        for i, column in enumerate(table.columns.values()):
            arrow = (DOWN if state[1] else UP) if state is not None and state[0] == i else ""
            column.label = Text(labels[i] + arrow)
            column.content_width = max(column.content_width, column.label.cell_len)
        table.refresh()

    def _show_empty(self, table: DataTable[Any], searched: bool = False) -> None:
        with contextlib.suppress(Exception):
            note = self.query_one(f"#{table.id}-empty", Static)
            empty = table.row_count == 0
            table.set_class(empty, "-empty")
            note.display = empty
            if empty:
                text = self._filter_text(str(table.id))
                note.update(f"nothing matches “{text}” (esc clears the search)" if searched
                            else self.empty_text(str(table.id)))

    # ---- search ---------------------------------------------------------------------------------------
    def _main(self) -> DataTable[Any] | None:
        tables = list(self.query(f"#{self.TABLE}" if self.TABLE else "DataTable").results(DataTable))
        return tables[0] if tables else None

    def action_search_table(self) -> None:
        table = self._main()
        if table is not None:
            field = self.query_one(f"#{table.id}-filter", Input)
            field.display = True
            field.focus()

    @on(Input.Changed, ".table-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        table_id = str(event.input.id).removesuffix("-filter")
        self._show_rows(self.query_one(f"#{table_id}", DataTable))

    @on(Input.Submitted, ".table-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        table = self.query_one(f"#{str(event.input.id).removesuffix('-filter')}", DataTable)
        if not event.value.strip():
            event.input.display = False
        table.focus()

    def key_escape(self) -> None:
        focused = self.focused
        if isinstance(focused, Input) and focused.has_class("table-filter"):
            focused.value = ""
            focused.display = False
            self.query_one(f"#{str(focused.id).removesuffix('-filter')}", DataTable).focus()

    # ---- sort -----------------------------------------------------------------------------------------
    def sort_by(self, table: DataTable[Any], index: int, descending: bool | None = None) -> None:
        current = self.sort_state.get(str(table.id))
        labels = self._labels.get(str(table.id)) or [""] * len(table.columns)
        if descending is None:
            descending = (not current[1]) if current is not None and current[0] == index \
                else labels[index] in DESCENDING_FIRST
        self.sort_state[str(table.id)] = (index, descending)
        self._show_rows(table)

    def action_sort_next(self) -> None:
        table = self._main()
        if table is None or not table.columns:
            return
        current = self.sort_state.get(str(table.id))
        self.sort_by(table, 0 if current is None else (current[0] + 1) % len(table.columns))

    def action_sort_flip(self) -> None:
        table = self._main()
        if table is not None:
            current = self.sort_state.get(str(table.id)) or (0, True)
            self.sort_by(table, current[0], not current[1])

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(event.data_table, event.column_index)
