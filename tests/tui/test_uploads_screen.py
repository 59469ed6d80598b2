"""Uploads section: sessions in flight with progress that moves with the server's events."""

from __future__ import annotations

from typing import Any

from tests.support.console import Served, goto, table_rows, wait_until


async def test_uploads_in_flight_and_live_progress(served: Served, dashboard: Any) -> None:
    repos = served.svc.db.repos
    viewer = await served.svc.accounts.create_user("viewer", "viewer@example.com", "password123")
    upload = await repos.uploads.create({"user_id": viewer.id, "filename": "[ep02].mkv", "total_size": 4096,
                                         "total_chunks": 4, "uploaded_chunks": [0], "status": "uploading"})
    await repos.uploads.create({"user_id": viewer.id, "filename": "old.mkv", "total_size": 1, "total_chunks": 1,
                                "status": "completed"})
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "3", "uploads")
        rows = table_rows(pilot.app, "#uploads")
        assert [r[1:3] for r in rows] == [["[ep02].mkv", "viewer"]]
        assert rows[0][3].endswith(" 25%") and rows[0][4] == "4.0 KiB"

        served.svc.events.publish("upload.progress", upload_id=upload.id, percent=80.0)
        await wait_until(pilot, lambda: table_rows(pilot.app, "#uploads")[0][3].endswith(" 80%"),
                         what="progress cell at 80%")
