"""Dashboard: figures from the server, and live progress from the event stream (no polling)."""

from __future__ import annotations

from typing import Any

import aiohttp
from textual.widgets import ProgressBar, RichLog, Sparkline, Static

from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.tui.messages import ServerEventReceived
from tests.support.console import Recorder, Served, settle, start_upload, wait_until


def _text(pilot: Any, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).render())


def _bar(pilot: Any, row_id: str) -> float | None:
    rows = pilot.app.screen.query(f"#{row_id}")
    bars = rows.first().query(ProgressBar) if rows else None  # a row just mounted may not have its bar yet
    return bars.first().percentage * 100 if bars else None


async def test_figures_and_live_progress(served: Served, dashboard: Any, recorder: Recorder) -> None:
    repos = repos_of(served.svc.db)
    admin = served.admin.id
    for status in ("ready", "ready", "failed"):
        video = await repos.videos.create({"title": f"{status} one", "uploader_user_id": admin, "status": status})
    await repos.analytics.create({"video_id": video.id, "viewed_at": utcnow()})
    async with aiohttp.ClientSession() as http:
        upload = await start_upload(http, served.url, served.admin_key, "[ep01].mkv", bytes(400), 4, send=[])
    async with dashboard() as pilot:
        assert pilot.app.current_mode == "dashboard"
        assert "total 3" in _text(pilot, "#videos") and "ready 2" in _text(pilot, "#videos")
        assert "failed 1" in _text(pilot, "#videos")
        assert "uploads 1" in _text(pilot, "#work")
        assert _text(pilot, "#views-today") == "today 1"
        assert pilot.app.screen.query_one("#views-spark", Sparkline).data[-1] == 1
        assert served.url in _text(pilot, "#server")
        await wait_until(pilot, lambda: _bar(pilot, f"upload-{upload}") == 0, what="upload bar at 0%")

        # Progress events move the bar without a reload.
        served.svc.events.publish("upload.progress", upload_id=upload, bytes_received=160, total_size=400,
                                  progress=40.0)
        await wait_until(pilot, lambda: _bar(pilot, f"upload-{upload}") == 40.0, what="upload bar at 40%")
        assert any(m.event["type"] == "upload.progress" for m in recorder.of(ServerEventReceived))
        served.svc.events.publish("ingest.waiting", path="watch/Goblin E01.mkv")
        await settle(pilot)
        recent = [line.text for line in pilot.app.screen.query_one("#events", RichLog).lines]
        assert not any("upload.progress" in t or "ingest.waiting" in t for t in recent)  # the bars say it

        # A transcode starting appears after the debounced reload; its progress comes from events.
        busy = await repos.videos.create({"title": "Crash Landing", "uploader_user_id": admin,
                                          "status": "processing"})
        job = await repos.jobs.create({"video_id": busy.id, "status": "processing", "provider": "local_server",
                                       "started_at": utcnow()})
        served.svc.events.publish("job.started", job_id=job.id, video_id=busy.id)
        await wait_until(pilot, lambda: _bar(pilot, f"job-{job.id}") is not None, what="transcode row")
        await settle(pilot)
        assert "total 4" in _text(pilot, "#videos")
        served.svc.events.publish("job.progress", job_id=job.id, progress=75)
        await wait_until(pilot, lambda: _bar(pilot, f"job-{job.id}") == 75.0, what="job bar at 75%")

        # Finished work leaves the panel; the upload's bar goes at once.
        await repos.uploads.update(upload, {"status": "completed"})
        served.svc.events.publish("upload.completed", upload_id=upload)
        await wait_until(pilot, lambda: _bar(pilot, f"upload-{upload}") is None, what="upload row gone")

        lines = [line.text for line in pilot.app.screen.query_one("#events", RichLog).lines]
        assert not any("job.progress" in line for line in lines)  # progress moved the bar, nothing more
        assert any("upload.completed" in line for line in lines)


async def test_views_today_follow_the_view_beacons(served: Served, dashboard: Any) -> None:
    repos = repos_of(served.svc.db)
    video = await repos.videos.create({"title": "Goblin", "uploader_user_id": served.admin.id, "status": "ready"})
    await repos.video_files.create({"video_id": video.id, "file_type": "master_playlist", "storage_provider": "local",
                                    "file_path": f"videos/{video.id}/hls/master.m3u8", "file_size": 1,
                                    "checksum": "0" * 64})
    async with dashboard(size=(80, 24)) as pilot:
        assert _text(pilot, "#views-today") == "today 0"
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(f"{served.url}/api/videos/{video.id}/views", json={"watch_duration": 30}) as r:
                    assert r.status == 204
        await served.svc.analytics.flush()  # what the server's writer does every second
        await wait_until(pilot, lambda: _text(pilot, "#views-today") == "today 3", what="live view count")
        assert pilot.app.screen.query_one("#views-spark", Sparkline).data[-1] == 3


async def test_refresh_key_reloads(served: Served, dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        assert "total 0" in _text(pilot, "#videos")
        await repos_of(served.svc.db).videos.create({"title": "Quiet add", "uploader_user_id": served.admin.id,
                                                 "status": "ready"})  # no event: only a refresh shows it
        await pilot.press("r")
        await settle(pilot)
        assert "total 1" in _text(pilot, "#videos")
