"""Every table: `/` searches its rows, `s` / a header click sorts with the direction in the header, and an
empty table says why it is empty."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, Static

from tests.support.console import Served, goto, settle, table_rows, wait_until


def _headers(pilot: Any, selector: str) -> list[str]:
    table = pilot.app.screen.query_one(selector, DataTable)
    return [c.label.plain for c in table.columns.values()]


def _empty(pilot: Any, table_id: str) -> str:
    note = pilot.app.screen.query_one(f"#{table_id}-empty", Static)
    return str(note.render()) if note.display else ""


async def test_search_and_sort_the_users_table(served: Served, dashboard: Any) -> None:
    for name in ("mina", "hyun", "jiwoo"):
        await served.svc.accounts.create_user(name, f"{name}@example.com", "password123")
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "5", "users")
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["root", "mina", "hyun", "jiwoo"]  # server order
        assert _headers(pilot, "#users")[1] == "Username"

        await pilot.press("s", "s")  # ID, then Username: A to Z
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["hyun", "jiwoo", "mina", "root"]
        assert _headers(pilot, "#users")[:2] == ["ID", "Username ▲"]
        await pilot.press("o")  # reverse
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["root", "mina", "jiwoo", "hyun"]
        assert _headers(pilot, "#users")[1] == "Username ▼"
        await pilot.click("#users", offset=(2, 0))  # the ID header: newest first
        await settle(pilot)
        assert _headers(pilot, "#users")[:2] == ["ID ▼", "Username"]
        assert [r[1] for r in table_rows(pilot.app, "#users")] == ["jiwoo", "hyun", "mina", "root"]

        await pilot.press("slash")
        field = pilot.app.screen.query_one("#users-filter", Input)
        assert field.display and pilot.app.focused is field
        await pilot.press(*"MINA")
        await wait_until(pilot, lambda: [r[1] for r in table_rows(pilot.app, "#users")] == ["mina"], what="search")
        await pilot.press("enter")  # back to the table, the search stays
        assert isinstance(pilot.app.focused, DataTable) and field.display
        await pilot.press("slash")
        await pilot.press(*"zz")
        await wait_until(pilot, lambda: "nothing matches “MINAzz”" in _empty(pilot, "users"), what="no match")
        await pilot.press("escape")  # clears and hides the search
        await settle(pilot)
        assert not field.display and len(table_rows(pilot.app, "#users")) == 4 and _empty(pilot, "users") == ""


async def test_empty_tables_say_why(dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "8", "backups")
        assert _empty(pilot, "backups").startswith("no backups yet: b makes one now")
        await goto(pilot, "3", "uploads")
        assert _empty(pilot, "uploads").startswith("no upload in flight")
        await goto(pilot, "7", "comments")
        assert _empty(pilot, "comments") == "no comment waits for approval (f shows approved or all)"
        await goto(pilot, "2", "videos")
        assert _empty(pilot, "videos").startswith("no videos yet: drop files into the watch folder")
        await goto(pilot, "6", "keys")
        assert _empty(pilot, "keys") == ""  # the admin's own key is listed
