"""Jobs (priority, cancel, retry, errors, live progress) and Comments (approve, hide, delete)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from kdrama_tui.repositories import repos_of
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, wait_until


async def _queue(served: Served) -> tuple[Any, Any, Any]:
    repos = repos_of(served.svc.db)
    videos = []
    for title in ("Goblin", "Signal", "Kingdom"):
        video = await repos.videos.create({"title": title, "uploader_user_id": served.admin.id,
                                           "status": "processing"})
        await repos.video_files.create({"video_id": video.id, "file_type": "original", "storage_provider": "local",
                                        "file_path": f"originals/x{video.id}/source.mkv", "file_size": 1,
                                        "checksum": "0" * 64})
        videos.append(video)
    running = await repos.jobs.create({"video_id": videos[0].id, "status": "processing", "provider": "local_server",
                                       "progress": 10, "ladder": {
                                           "path": "copy", "reason": "H.264 High 4 1920x1080 ...",
                                           "encoder": "libx264", "renditions": [
                                               {"name": "720p", "width": 1280, "height": 720, "source": "encoded",
                                                "progress": 10, "ready": False},
                                               {"name": "1080p", "width": 1920, "height": 1080, "source": "copy",
                                                "progress": 100, "ready": True}]}})
    queued = await repos.jobs.create({"video_id": videos[1].id, "status": "queued", "provider": "local_server",
                                      "priority": 5})
    failed = await repos.jobs.create({"video_id": videos[2].id, "status": "failed", "provider": "local_server",
                                      "error_message": "ffmpeg exited with 1\nmoov atom not found"})
    await repos.videos.update(videos[2].id, {"status": "failed"})
    return running, queued, failed


async def test_jobs_priority_cancel_retry_and_errors(served: Served, dashboard: Any, recorder: Recorder) -> None:
    running, queued, failed = await _queue(served)
    repos = repos_of(served.svc.db)
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "4", "jobs")
        assert [r[0] for r in table_rows(pilot.app, "#jobs")] == [str(running.id), str(queued.id), str(failed.id)]

        await select_row(pilot, "#jobs", str(failed.id))
        detail = str(pilot.app.screen.query_one("#job-text", Static).render())
        assert "moov atom not found" in detail  # the error of a failed job, in full

        await select_row(pilot, "#jobs", str(queued.id))
        await pilot.press("plus", "plus")
        await settle(pilot)
        assert (await repos.jobs.get(queued.id)).priority == 3
        await pilot.press("minus")
        await settle(pilot)
        assert (await repos.jobs.get(queued.id)).priority == 4

        served.svc.events.publish("job.progress", job_id=running.id, video_id=running.video_id, progress=55)
        await wait_until(pilot, lambda: table_rows(pilot.app, "#jobs")[0][4].endswith("55%"), what="live progress")

        # Per rendition: the copied one plays already, the encoded one shows its progress, live.
        await select_row(pilot, "#jobs", str(running.id))
        detail = str(pilot.app.screen.query_one("#job-text", Static).render())
        assert "path: source copy (H.264 High 4 1920x1080 ...)" in detail and "encoder: libx264" in detail
        assert "1080p 1920x1080 copied   playable" in detail and "720p 1280x720 encoded" in detail
        served.svc.events.publish("job.ladder", job_id=running.id, video_id=running.video_id, path="copy",
                                  reason="H.264 High 4 1920x1080 ...", encoder="libx264",
                                  renditions_ready=["1080p"], renditions_progress={"720p": 64})
        await wait_until(pilot, lambda: "64%" in str(pilot.app.screen.query_one("#job-text", Static).render()),
                         what="live rendition progress")

        await select_row(pilot, "#jobs", str(queued.id))
        await pilot.press("x", "y")
        await settle(pilot)
        assert (await repos.jobs.get(queued.id)).status == "cancelled"
        await pilot.press("plus")  # a cancelled job's priority cannot change: said here, nothing sent
        await settle(pilot)
        assert any("only a queued job" in n for n in recorder.notes("warning"))

        await select_row(pilot, "#jobs", str(failed.id))
        await pilot.press("t")
        await settle(pilot)
        retried = [j for j in await repos.jobs.find_by_video(failed.video_id) if j.status == "queued"]
        assert len(retried) == 1
        assert str(retried[0].id) in [r[0] for r in table_rows(pilot.app, "#jobs")]

        await pilot.press("f")  # active only
        await settle(pilot)
        assert {r[2] for r in table_rows(pilot.app, "#jobs")} <= {"queued", "processing"}


async def test_comments_moderation(served: Served, dashboard: Any) -> None:
    repos = repos_of(served.svc.db)
    video = await repos.videos.create({"title": "Goblin", "uploader_user_id": served.admin.id, "status": "ready"})
    pending = await repos.comments.create({"video_id": video.id, "content": "first! [b]bold?[/b]",
                                           "is_approved": False})
    shown = await repos.comments.create({"video_id": video.id, "content": "spam spam", "user_id": served.admin.id})
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "7", "comments")
        assert [r[0] for r in table_rows(pilot.app, "#comments")] == [str(pending.id)]  # the queue
        assert "[b]bold?[/b]" in str(pilot.app.screen.query_one("#comment-text", Static).render())
        await pilot.press("a")
        await settle(pilot)
        assert (await repos.comments.get(pending.id)).is_approved is True
        assert table_rows(pilot.app, "#comments") == []

        await pilot.press("f")  # approved ones
        await settle(pilot)
        assert {r[0] for r in table_rows(pilot.app, "#comments")} == {str(pending.id), str(shown.id)}
        await select_row(pilot, "#comments", str(shown.id))
        await pilot.press("h")
        await settle(pilot)
        assert (await repos.comments.get(shown.id)).is_approved is False

        await pilot.press("f")  # all
        await settle(pilot)
        await select_row(pilot, "#comments", str(shown.id))
        await pilot.press("d", "y")
        await settle(pilot)
        assert await repos.comments.find_by_id(shown.id) is None
        assert [r[0] for r in table_rows(pilot.app, "#comments")] == [str(pending.id)]
