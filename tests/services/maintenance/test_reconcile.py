"""Ready videos whose files are gone, on both databases: re-queued from the original, or marked missing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.service import ANONYMOUS
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.storage import keys
from tests.support.library import original_key, ready_video


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


async def test_lost_files_requeue_or_mark_missing_and_come_back_when_the_files_do(svc: Services) -> None:
    admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
    kept = await ready_video(svc, admin.id, "Goblin")  # loses its HLS files, keeps its original
    gone = await ready_video(svc, admin.id, "Signal")  # loses everything
    fine = await ready_video(svc, admin.id, "Kingdom")
    await svc.storage.delete_prefix(keys.video_folder(kept.id))
    await svc.storage.delete_prefix(keys.video_folder(gone.id))
    await svc.storage.delete(await original_key(svc, gone.id))

    with svc.events.subscription() as queue:
        await svc.admin.check_media()
        published = [queue.get_nowait().type for _ in range(queue.qsize())]
    report = svc.admin.media_check
    assert report is not None
    assert report["checked"] == 3
    assert [r["video_id"] for r in report["requeued"]] == [kept.id]
    assert [r["video_id"] for r in report["missing"]] == [gone.id]
    assert report["summary"] == ("3 ready videos checked, 1 re-queued (files missing, original kept), "
                                 "1 missing (files and original gone)")
    assert {"job.queued", "video.requeued", "video.missing"} <= set(published)

    repos = repos_of(svc.db)
    requeued = await repos.videos.get(kept.id)
    assert requeued.status == "processing" and requeued.missing_reason is None
    job = await repos.jobs.active_for_video(kept.id)
    assert job is not None and job.status == "queued"
    assert [f.file_type for f in await repos.video_files.find_by_video(kept.id)] == ["original"]

    missing = await repos.videos.get(gone.id)
    assert missing.status == "failed"
    assert missing.missing_reason == ("4 of 4 files missing, and its original is gone too: upload it again or "
                                      "delete the video")
    assert (await repos.videos.get(fine.id)).status == "ready"
    public = await svc.catalog.search(ANONYMOUS)
    assert [v["id"] for v in public["items"]] == [fine.id]  # never "ready" with files that 404
    listed = await svc.catalog.search(svc_admin_viewer(), status="missing")
    assert [(v["id"], v["missing_reason"]) for v in listed["items"]] == [(gone.id, missing.missing_reason)]

    await svc.admin.check_media()  # a second check finds nothing more to do
    assert svc.admin.media_check["requeued"] == [] and svc.admin.media_check["missing"] == []


async def test_a_missing_video_whose_files_are_back_is_ready_again(svc: Services) -> None:
    admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
    video = await ready_video(svc, admin.id, "Goblin")
    await ready_video(svc, admin.id, "Signal")
    await repos_of(svc.db).videos.update(video.id, {"status": "failed", "missing_reason": "files missing"})
    await svc.admin.check_media()
    assert svc.admin.media_check["recovered"] == [video.id]
    found = await repos_of(svc.db).videos.get(video.id)
    assert found.status == "ready" and found.missing_reason is None


async def test_an_absent_storage_changes_nothing(svc: Services) -> None:
    admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
    videos = [await ready_video(svc, admin.id, f"Episode {i}") for i in range(4)]
    for prefix in (keys.VIDEOS, keys.ORIGINALS):  # as if the media disk were not mounted
        await svc.storage.delete_prefix(prefix)
    await svc.admin.check_media()
    assert "looks unmounted" in (svc.admin.media_check["refused"] or "")
    for video in videos:
        assert (await repos_of(svc.db).videos.get(video.id)).status == "ready"


def svc_admin_viewer():
    from kdrama_tui.services.catalog.service import Viewer

    return Viewer(user_id=None, admin=True)
