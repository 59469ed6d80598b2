"""Uploads section: sessions in flight with progress that moves with the server's events; abort one."""

from __future__ import annotations

from typing import Any

import aiohttp

from kdrama_tui.repositories import repos_of
from tests.support.console import Recorder, Served, goto, select_row, settle, start_upload, table_rows, wait_until


async def test_uploads_in_flight_live_progress_and_abort(served: Served, dashboard: Any, recorder: Recorder) -> None:
    viewer = await served.svc.accounts.create_user("viewer", "viewer@example.com", "password123")
    key, _ = await served.svc.accounts.issue_api_key(viewer.id)
    async with aiohttp.ClientSession() as http:
        upload = await start_upload(http, served.url, key, "[ep02].mkv", bytes(4096), 4, send=[0])
        done = await start_upload(http, served.url, key, "whole.mkv", bytes(10), 1, send=[])
    await repos_of(served.svc.db).uploads.update(done, {"status": "completed"})
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "3", "uploads")
        rows = table_rows(pilot.app, "#uploads")
        assert [r[1:3] for r in rows] == [["[ep02].mkv", "viewer"]]  # brackets shown as typed, not markup
        assert rows[0][3].endswith(" 25%") and rows[0][4] == "4.0 KiB"

        served.svc.events.publish("upload.progress", upload_id=upload, bytes_received=3277, total_size=4096,
                                  progress=80.0)
        await wait_until(pilot, lambda: table_rows(pilot.app, "#uploads")[0][3].endswith(" 80%"),
                         what="progress cell at 80%")

        folder = served.svc.settings.uploads_dir / (await repos_of(served.svc.db).uploads.get(upload)).token
        await select_row(pilot, "#uploads", str(upload))
        await pilot.press("x", "y")
        await settle(pilot)
        assert (await repos_of(served.svc.db).uploads.get(upload)).status == "aborted"
        assert not folder.exists()
        assert table_rows(pilot.app, "#uploads") == []
        assert f"upload {upload} aborted" in recorder.notes()
