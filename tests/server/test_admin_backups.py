"""Admin API backups on both databases: run (in the background, with events), list, restore and restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.db import open_database
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.server.keys import RESTART_HOOK
from kdrama_tui.services.container import Services, build_services


@pytest.fixture
async def setup(settings: Settings, aiohttp_client: Any) -> AsyncIterator[tuple[Services, Any, dict[str, str], list]]:
    settings.security.bcrypt_rounds = 4
    settings.backup.enabled = False
    svc = await build_services(settings)
    restarts: list[bool] = []
    try:
        app = create_app(svc)
        app[RESTART_HOOK] = lambda: restarts.append(True)
        http = await aiohttp_client(app)
        admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
        key, _ = await svc.accounts.issue_api_key(admin.id)
        yield svc, http, {"X-API-Key": key}, restarts
    finally:
        await svc.close()


async def _finished(svc: Services, http: Any, headers: dict[str, str], cloud: bool = False) -> dict[str, Any]:
    """Start a backup over the API and wait for its backup.finished (or failed) event."""
    with svc.events.subscription() as queue:
        started = await http.post("/api/admin/backups", json={"cloud": cloud}, headers=headers)
        assert started.status == 202, await started.text()
        while True:
            event = await asyncio.wait_for(queue.get(), 60)
            if event.type in ("backup.finished", "backup.failed"):
                return {"type": event.type, **event.data}


async def test_backup_list_and_restore_with_restart(setup: Any) -> None:
    svc, http, headers, restarts = setup
    done = await _finished(svc, http, headers)
    assert done["type"] == "backup.finished", done
    listed = await (await http.get("/api/admin/backups", headers=headers)).json()
    assert [b["name"] for b in listed["items"]] == [done["name"]]
    assert listed["running"] is False and listed["cloud_configured"] is False

    await svc.accounts.create_user("later", "later@example.com", "password123")  # after the backup
    answer = await http.post("/api/admin/backups/restore", json={"name": done["name"]}, headers=headers)
    body = await answer.json()
    assert answer.status == 200, body
    assert body["restored"] == done["name"] and body["restarting"] is True
    await asyncio.sleep(0.8)
    assert restarts == [True]  # the hosting process was asked to restart, after the answer went out

    fresh = await open_database(svc.settings.database_url)  # what the restarted server will see
    try:
        assert await repos_of(fresh).users.find_by_username("later") is None
        assert await repos_of(fresh).users.find_by_username("root") is not None
    finally:
        await fresh.close()
    names = [b["name"] for b in (await (await http.get("/api/admin/backups", headers=headers)).json())["items"]]
    assert any(n.startswith("kdrama-prerestore-") for n in names)  # the replaced database was kept


async def test_restore_refuses_what_is_not_a_listed_backup(setup: Any) -> None:
    svc, http, headers, restarts = setup
    for name in ("../../etc/passwd", "/tmp/x.tar", "kdrama.db", 5):
        answer = await http.post("/api/admin/backups/restore", json={"name": name}, headers=headers)
        assert answer.status == 400, (name, await answer.text())
    missing = await http.post("/api/admin/backups/restore", json={"name": "kdrama-backup-20200101T000000Z.tar"},
                              headers=headers)
    assert missing.status in (404, 409, 422)
    assert (await missing.json())["error"]["code"]
    assert restarts == []
    assert await repos_of(svc.db).users.count() == 1  # nothing changed


async def test_cloud_backup_without_configuration_fails_cleanly(setup: Any) -> None:
    svc, http, headers, _ = setup
    done = await _finished(svc, http, headers, cloud=True)
    assert done["type"] == "backup.failed" and "encryption_key is not set" in done["error"]
    bad = await http.post("/api/admin/backups", json={"cloud": "yes"}, headers=headers)
    assert bad.status == 400


async def test_restore_reconciles_videos_deleted_after_the_backup(setup: Any) -> None:
    """A backup holds no media: a video deleted after it comes back re-queued when its original is still
    stored, else missing (out of the catalog), never ready with files that answer 404."""
    from kdrama_tui.storage import keys
    from tests.support.library import original_key, ready_video

    svc, http, headers, restarts = setup
    admin = await repos_of(svc.db).users.find_by_username("root")
    assert admin is not None
    kept = await ready_video(svc, admin.id, "Goblin")
    gone = await ready_video(svc, admin.id, "Signal")
    stays = await ready_video(svc, admin.id, "Kingdom")
    done = await _finished(svc, http, headers)
    assert done["type"] == "backup.finished", done

    # After the backup: Signal is deleted (files, original and rows); Goblin's renditions are lost, its
    # original stays (e.g. kept elsewhere and put back).
    original = await original_key(svc, kept.id)
    answer = await http.delete(f"/api/videos/{gone.id}", headers=headers)
    assert answer.status == 204, await answer.text()
    await svc.storage.delete_prefix(keys.video_folder(kept.id))
    assert await svc.storage.exists(original)

    answer = await http.post("/api/admin/backups/restore", json={"name": done["name"]}, headers=headers)
    body = await answer.json()
    assert answer.status == 200, body
    assert body["holds"]["holds"][0] == "database" and body["holds"]["not"].startswith("media files")
    reconciled = body["reconciled"]
    assert [r["video_id"] for r in reconciled["requeued"]] == [kept.id]
    assert [r["video_id"] for r in reconciled["missing"]] == [gone.id]
    assert reconciled["checked"] == 3
    await asyncio.sleep(0.8)
    assert restarts == [True]

    fresh = await open_database(svc.settings.database_url)  # what the restarted server will see
    try:
        repos = repos_of(fresh)
        back = await repos.videos.get(kept.id)
        assert back.status == "processing" and back.missing_reason is None
        job = await repos.jobs.active_for_video(kept.id)
        assert job is not None and job.status == "queued"
        missing = await repos.videos.get(gone.id)
        assert missing.status == "failed" and "original is gone too" in (missing.missing_reason or "")
        assert (await repos.videos.get(stays.id)).status == "ready"
        ready = {v.id for v in await repos.videos.find_by_status("ready")}
        assert ready == {stays.id}
    finally:
        await fresh.close()

    listed = await (await http.get("/api/admin/backups", headers=headers)).json()
    assert listed["last_restore"]["restored"] == done["name"]
    assert listed["last_restore"]["reconciled"]["summary"] == (
        "3 ready videos checked, 1 re-queued (files missing, original kept), 1 missing (files and original gone)")
    assert listed["holds"]["holds"] == ["database", "master key", "configuration (secrets masked)"]
