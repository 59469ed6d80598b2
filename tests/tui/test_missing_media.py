"""Videos whose files are gone, as the admin sees them: the missing filter in Videos, the report in Backups."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select, Static

from kdrama_tui.storage import keys
from tests.support.console import Served, goto, settle, table_rows, wait_until
from tests.support.library import original_key, ready_video


async def test_missing_videos_are_listed_with_their_reason_and_the_backups_say_what_they_hold(
        served: Served, dashboard: Any) -> None:
    svc = served.svc
    gone = await ready_video(svc, served.admin.id, "Signal")
    await ready_video(svc, served.admin.id, "Kingdom")
    await svc.storage.delete_prefix(keys.video_folder(gone.id))
    await svc.storage.delete(await original_key(svc, gone.id))
    await svc.admin.check_media()  # what a server does at start-up

    async with dashboard(size=(120, 40)) as pilot:
        await goto(pilot, "2", "videos")
        rows = {r[1]: r[3] for r in table_rows(pilot.app, "#videos")}
        assert rows == {"Signal": "missing", "Kingdom": "ready"}
        pilot.app.screen.query_one("#status", Select).value = "missing"
        await wait_until(pilot, lambda: [r[1] for r in table_rows(pilot.app, "#videos")] == ["Signal"],
                         what="the missing filter")
        await settle(pilot)
        detail = str(pilot.app.screen.query_one("#detail-text", Static).render())
        assert "Signal · missing · public" in detail
        assert "missing: 4 of 4 files missing, and its original is gone too" in detail

        await goto(pilot, "8", "backups")
        status = str(pilot.app.screen.query_one("#schedule", Static).render())
        assert ("a backup holds: database, master key, configuration (secrets masked) · not the media files"
                in status)
        assert "media check at start-up" in status
        assert "2 ready videos checked, 1 missing (files and original gone)" in status
