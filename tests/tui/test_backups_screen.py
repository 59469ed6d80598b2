"""Backups section: run one now with live progress, see it listed, restore it (with confirmation)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Label, ProgressBar

from kdrama_tui.db import open_database
from kdrama_tui.repositories import repos_of
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, wait_until


async def test_run_a_backup_then_restore_it(served: Served, dashboard: Any, recorder: Recorder) -> None:
    served.svc.settings.backup.enabled = False
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "8", "backups")
        assert table_rows(pilot.app, "#backups") == []
        await pilot.press("b")
        await wait_until(pilot, lambda: str(pilot.app.screen.query_one("#stage", Label).render()).startswith("done"),
                         timeout=60, what="the backup to finish")
        assert pilot.app.screen.query_one("#backup-progress", ProgressBar).percentage == 1.0
        await settle(pilot)
        rows = table_rows(pilot.app, "#backups")
        assert len(rows) == 1 and rows[0][1:3] == ["local", "backup"]
        name = rows[0][0]

        await served.svc.accounts.create_user("later", "later@example.com", "password123")
        await select_row(pilot, "#backups", f"local:{name}")
        await pilot.press("R")
        await pilot.press("n")  # not yet
        await settle(pilot)
        assert await repos_of(served.svc.db).users.find_by_username("later") is not None
        await pilot.press("R", "y")
        await wait_until(pilot, lambda: any(n.startswith(f"restored {name}") for n in recorder.notes()),
                         timeout=60, what="the restore")
        assert any("restart the server" in n for n in recorder.notes())  # no restart hook in this test server
    fresh = await open_database(served.svc.settings.database_url)
    try:
        assert await repos_of(fresh).users.find_by_username("later") is None
    finally:
        await fresh.close()
