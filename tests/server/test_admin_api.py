"""The admin API on both databases: who may call it, and what each endpoint does to the system."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.errors import Unauthorized
from kdrama_tui.logbuffer import get_buffer
from kdrama_tui.models import User, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.console import start_upload

ADMIN_ENDPOINTS = [
    ("GET", "/api/admin/stats"), ("GET", "/api/admin/settings"), ("GET", "/api/admin/logs"),
    ("GET", "/api/admin/events"), ("GET", "/api/admin/users"), ("POST", "/api/admin/users"),
    ("GET", "/api/admin/users/1"), ("PATCH", "/api/admin/users/1"), ("GET", "/api/admin/api-keys"),
    ("POST", "/api/admin/api-keys"), ("DELETE", "/api/admin/api-keys/1"), ("GET", "/api/admin/uploads"),
    ("GET", "/api/admin/videos/1"), ("GET", "/api/admin/comments"), ("DELETE", "/api/admin/uploads/1"),
    ("GET", "/api/admin/backups"), ("POST", "/api/admin/backups"), ("POST", "/api/admin/backups/restore"),
    ("GET", "/api/admin/failed-imports"), ("POST", "/api/admin/failed-imports/retry"),
    ("DELETE", "/api/admin/failed-imports?id=a.mkv"),
]


@dataclass
class Api:
    svc: Services
    http: TestClient
    admin: User
    admin_key: str
    user: User
    user_key: str

    def as_admin(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}

    async def call(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        response = await self.http.request(method, path, json=body, headers=self.as_admin(), **kw)
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        return json.loads(text) if text else None


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Any) -> AsyncIterator[Api]:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        http = await aiohttp_client(create_app(svc))
        admin = await svc.accounts.create_user("root", "root@example.com", "password123", "admin")
        admin_key, _ = await svc.accounts.issue_api_key(admin.id, "admin key")
        user = await svc.accounts.create_user("viewer", "viewer@example.com", "password123", "user")
        user_key, _ = await svc.accounts.issue_api_key(user.id, "user key")
        yield Api(svc, http, admin, admin_key, user, user_key)
    finally:
        await svc.close()


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
async def test_anonymous_callers_get_401_and_non_admins_403(api: Api, method: str, path: str) -> None:
    anonymous = await api.http.request(method, path, json={})
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]["code"] == "authentication_required"
    user = await api.http.request(method, path, json={}, headers={"X-API-Key": api.user_key})
    assert user.status == 403
    assert (await user.json())["error"]["code"] == "admin_required"
    garbage = await api.http.request(method, path, json={}, headers={"X-API-Key": "kd_not-a-key"})
    assert garbage.status == 401


async def test_the_local_admin_token_of_this_process_is_an_admin(api: Api) -> None:
    ok = await api.http.get("/api/admin/users", headers={"Authorization": f"Bearer {api.svc.local_admin_token}"})
    assert ok.status == 200
    wrong = await api.http.get("/api/admin/users", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401


async def test_stats_count_videos_jobs_uploads_views_and_disk(api: Api) -> None:
    repos = repos_of(api.svc.db)
    ready = await repos.videos.create({"title": "Ready", "uploader_user_id": api.admin.id, "status": "ready"})
    busy = await repos.videos.create({"title": "Busy", "uploader_user_id": api.admin.id, "status": "processing"})
    await repos.videos.create({"title": "Broken", "uploader_user_id": api.admin.id, "status": "failed"})
    await repos.jobs.create({"video_id": busy.id, "status": "processing", "provider": "local_server",
                             "progress": 40, "started_at": utcnow()})
    await repos.jobs.create({"video_id": ready.id, "status": "queued", "provider": "local_server"})
    await start_upload(api.http, "", api.user_key, "ep01.mkv", bytes(1000), 4, send=[0, 1])
    await repos.video_files.create({"video_id": ready.id, "file_type": "original", "storage_provider": "local",
                                    "file_path": "originals/x/source.mkv", "file_size": 12345, "checksum": "ab"})
    for _ in range(3):
        await repos.analytics.create({"video_id": ready.id, "viewed_at": utcnow()})
    await repos.analytics.create({"video_id": ready.id, "viewed_at": utcnow() - timedelta(days=2)})
    await repos.analytics.create({"video_id": ready.id, "viewed_at": utcnow() - timedelta(days=40)})

    stats = await api.call("GET", "/api/admin/stats")

    assert stats["videos"]["by_status"] == {"ready": 1, "processing": 1, "failed": 1}
    assert stats["videos"]["total"] == 3
    assert stats["queue_length"] == 1
    assert stats["jobs"]["active"] == [{"id": 1, "video_id": busy.id, "title": "Busy", "progress": 40,
                                        "priority": 5}]
    assert stats["uploads"]["active"] == 1
    upload = stats["uploads"]["items"][0]
    assert (upload["filename"], upload["uploader"], upload["progress"], upload["bytes_received"]) == \
        ("ep01.mkv", "viewer", 50.0, 500)
    assert "token" not in upload  # a tus URL's capability never leaves through the admin API
    assert stats["views"]["today"] == 3
    per_day = stats["views"]["per_day"]
    assert len(per_day) == 14 and per_day[-1] == {"date": utcnow().date().isoformat(), "views": 3}
    assert sum(d["views"] for d in per_day) == 4  # the 40-day-old view is outside the sparkline
    assert stats["disk"]["storage"]["bytes"] == 12345 and stats["disk"]["storage"]["files"] == 1
    assert stats["disk"]["data_dir"]["total"] >= stats["disk"]["data_dir"]["free"] > 0
    assert stats["server"]["address"].startswith("http://127.0.0.1:")
    assert stats["server"]["database"] == api.svc.db.dialect
    assert stats["server"]["uptime_seconds"] >= 0


async def test_create_user_and_reject_bad_input(api: Api) -> None:
    created = await api.call("POST", "/api/admin/users", {"username": "mina", "email": "mina@example.com",
                                                          "password": "longenough", "role": "admin"}, status=201)
    assert "password_hash" not in created
    stored = await repos_of(api.svc.db).users.get(created["id"])
    assert (stored.username, stored.role, stored.is_active) == ("mina", "admin", True)
    assert (await api.svc.accounts.check_password("mina", "longenough")).id == stored.id

    duplicate = await api.call("POST", "/api/admin/users", {"username": "mina2", "email": "MINA@example.com",
                                                            "password": "longenough"}, status=409)
    assert duplicate["error"]["code"] == "already_exists"
    for body, code in [({"email": "x@example.com", "password": "longenough"}, "missing_field"),
                       ({"username": 5, "email": "x@example.com", "password": "longenough"}, "invalid_field"),
                       ({"username": "okname", "email": "x@example.com", "password": "short"}, "weak_password"),
                       ({"username": "okname", "email": "x@example.com", "password": "longenough", "role": "god"},
                        "invalid_role")]:
        assert (await api.call("POST", "/api/admin/users", body, status=400))["error"]["code"] == code
    bad_json = await api.http.post("/api/admin/users", data=b"{nope", headers=api.as_admin())
    assert bad_json.status == 400
    assert await repos_of(api.svc.db).users.count() == 3  # nothing half-made by the refused requests


async def test_patch_user_role_active_and_password(api: Api) -> None:
    uid = api.user.id
    assert (await api.call("PATCH", f"/api/admin/users/{uid}", {"role": "admin"}))["role"] == "admin"
    assert (await repos_of(api.svc.db).users.get(uid)).role == "admin"

    await api.call("PATCH", f"/api/admin/users/{uid}", {"is_active": False})
    assert (await repos_of(api.svc.db).users.get(uid)).is_active is False
    refused = await api.http.get("/api/admin/users", headers={"X-API-Key": api.user_key})
    assert refused.status == 401  # a deactivated account's keys stop working at once

    await api.call("PATCH", f"/api/admin/users/{uid}", {"is_active": True, "password": "a new password"})
    assert (await api.svc.accounts.check_password("viewer", "a new password")).id == uid
    with pytest.raises(Unauthorized):
        await api.svc.accounts.check_password("viewer", "password123")

    for body, code in [({}, "invalid_input"), ({"username": "x"}, "invalid_field"),
                       ({"is_active": "no"}, "invalid_input"), ({"role": "root"}, "invalid_role"),
                       ({"password": "short"}, "weak_password")]:
        assert (await api.call("PATCH", f"/api/admin/users/{uid}", body, status=400))["error"]["code"] == code
    assert (await repos_of(api.svc.db).users.get(uid)).role == "admin"  # a refused password changed nothing
    await api.call("PATCH", "/api/admin/users/999", {"role": "user"}, status=404)
    await api.call("PATCH", "/api/admin/users/abc", {"role": "user"}, status=404)


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(api: Api) -> None:
    for body in ({"role": "user"}, {"is_active": False}):
        answer = await api.call("PATCH", f"/api/admin/users/{api.admin.id}", body, status=409)
        assert answer["error"]["code"] == "last_admin"
    admin = await repos_of(api.svc.db).users.get(api.admin.id)
    assert (admin.role, admin.is_active) == ("admin", True)
    await api.call("PATCH", f"/api/admin/users/{api.user.id}", {"role": "admin"})
    await api.call("PATCH", f"/api/admin/users/{api.admin.id}", {"role": "user"})  # now there is another
    assert (await repos_of(api.svc.db).users.get(api.admin.id)).role == "user"


async def test_issue_list_and_revoke_api_keys(api: Api) -> None:
    issued = await api.call("POST", "/api/admin/api-keys", {"user_id": api.user.id, "name": "uploader box",
                                                            "expires_days": 30}, status=201)
    key = issued["key"]
    row = issued["api_key"]
    assert key.startswith("kd_") and row["key_prefix"] == key[:10] and row["username"] == "viewer"
    assert "api_key" not in row  # the hash never leaves the server
    works = await api.http.get("/healthz", headers={"X-API-Key": key})
    assert works.status == 200
    assert (await api.http.get("/api/admin/stats", headers={"X-API-Key": key})).status == 403  # a user's key

    by_name = await api.call("POST", "/api/admin/api-keys", {"username": "root"}, status=201)
    assert (await api.http.get("/api/admin/stats", headers={"X-API-Key": by_name["key"]})).status == 200

    listed = (await api.call("GET", "/api/admin/api-keys"))["items"]
    assert [k["id"] for k in listed] == [1, 2, 3, 4]
    mine = next(k for k in listed if k["id"] == by_name["api_key"]["id"])
    assert mine["last_used_at"] is not None and mine["expires_at"] is None
    assert next(k for k in listed if k["id"] == row["id"])["expires_at"] is not None
    assert all(key not in json.dumps(k) for k in listed)
    only_viewer = (await api.call("GET", "/api/admin/api-keys", params={"user_id": api.user.id}))["items"]
    assert {k["username"] for k in only_viewer} == {"viewer"}

    await api.call("DELETE", f"/api/admin/api-keys/{by_name['api_key']['id']}", status=204)
    assert (await api.http.get("/api/admin/stats", headers={"X-API-Key": by_name["key"]})).status == 401
    stored = await repos_of(api.svc.db).api_keys.get(by_name["api_key"]["id"])
    assert stored.is_active is False and stored.revoked_at is not None
    await api.call("DELETE", "/api/admin/api-keys/999", status=404)
    for body in ({"user_id": "1"}, {"user_id": api.user.id, "expires_days": -1},
                 {"user_id": api.user.id, "expires_days": "soon"}, {}):
        await api.call("POST", "/api/admin/api-keys", body, status=400)
    assert await repos_of(api.svc.db).api_keys.count() == 4


async def test_uploads_in_flight_with_progress_and_abort(api: Api) -> None:
    first = await start_upload(api.http, "", api.user_key, "a.mp4", bytes(300), 3, send=[2])
    second = await start_upload(api.http, "", api.admin_key, "b.mp4", bytes(10), 1, send=[])
    items = (await api.call("GET", "/api/admin/uploads"))["items"]
    assert [(u["id"], u["filename"], u["uploader"], u["progress"]) for u in items] == \
        [(first, "a.mp4", "viewer", pytest.approx(33.3)), (second, "b.mp4", "root", 0.0)]
    assert items[0]["bytes_received"] == 100

    folder = api.svc.settings.uploads_dir / (await repos_of(api.svc.db).uploads.get(first)).token
    assert folder.exists()
    aborted = await api.call("DELETE", f"/api/admin/uploads/{first}")  # someone else's: admins may
    assert aborted["status"] == "aborted"
    assert (await repos_of(api.svc.db).uploads.get(first)).status == "aborted"
    assert not folder.exists()  # its bytes are gone
    assert [u["id"] for u in (await api.call("GET", "/api/admin/uploads"))["items"]] == [second]
    await api.call("DELETE", "/api/admin/uploads/999", status=404)


async def test_video_detail_lists_files_renditions_jobs_views_comments(api: Api) -> None:
    repos = repos_of(api.svc.db)
    video = await repos.videos.create({"title": "Goblin", "uploader_user_id": api.admin.id, "status": "ready"})
    for file_type, size, language in [("original", 1000, None), ("master_playlist", 10, None),
                                      ("transcoded_720p", 500, None), ("transcoded_360p", 200, None),
                                      ("subtitle", 5, "ko")]:
        await repos.video_files.create({"video_id": video.id, "file_type": file_type, "storage_provider": "local",
                                        "file_path": f"videos/{video.id}/{file_type}", "file_size": size,
                                        "checksum": "0" * 64, "language": language})
    await repos.jobs.create({"video_id": video.id, "status": "failed", "provider": "local_server",
                             "error_message": "boom"})
    await repos.analytics.create({"video_id": video.id, "viewed_at": utcnow()})
    await repos.analytics.create({"video_id": video.id, "viewed_at": utcnow() - timedelta(days=30)})
    await repos.comments.create({"video_id": video.id, "content": "ok"})
    await repos.comments.create({"video_id": video.id, "content": "wait", "is_approved": False})

    detail = await api.call("GET", f"/api/admin/videos/{video.id}")
    assert detail["video"]["title"] == "Goblin"
    assert detail["renditions"] == ["360p", "720p"] and detail["subtitles"] == ["ko"]
    assert len(detail["files"]) == 5 and detail["stored_bytes"] == 1715
    assert [j["error_message"] for j in detail["jobs"]] == ["boom"]
    assert (detail["views"]["total"], detail["views"]["last_7_days"]) == (2, 1)
    assert detail["comments"] == {"total": 2, "pending": 1}
    await api.call("GET", "/api/admin/videos/999", status=404)


async def test_comments_of_every_video_by_state(api: Api) -> None:
    repos = repos_of(api.svc.db)
    video = await repos.videos.create({"title": "Signal", "uploader_user_id": api.admin.id, "status": "ready"})
    waiting = await repos.comments.create({"video_id": video.id, "content": "anonymous says hi", "is_approved": False})
    await repos.comments.create({"video_id": video.id, "content": "from a user", "user_id": api.user.id})
    pending = (await api.call("GET", "/api/admin/comments"))["items"]
    assert [(c["id"], c["video_title"], c["author"]) for c in pending] == [(waiting.id, "Signal", None)]
    approved = (await api.call("GET", "/api/admin/comments", params={"state": "approved"}))["items"]
    assert [(c["content"], c["author"]) for c in approved] == [("from a user", "viewer")]
    assert len((await api.call("GET", "/api/admin/comments", params={"state": "all"}))["items"]) == 2
    await api.call("GET", "/api/admin/comments", params={"state": "spam"}, status=400)


async def test_settings_are_effective_with_secrets_masked(api: Api) -> None:
    api.svc.settings.storage.secret_key = "s3cr3t-value"
    api.svc.settings.backup.encryption_key = "another-secret"
    body = await api.call("GET", "/api/admin/settings")
    assert body["settings"]["storage"]["secret_key"] == "***"
    assert body["settings"]["backup"]["encryption_key"] == "***"
    assert body["settings"]["server"]["host"] == api.svc.settings.server.host
    assert "s3cr3t-value" not in json.dumps(body) and "another-secret" not in json.dumps(body)


async def test_logs_filtered_by_level(api: Api) -> None:
    get_buffer()
    logging.getLogger("kdrama_tui.test").setLevel(logging.INFO)
    logging.getLogger("kdrama_tui.test").info("an info line %d", 1)
    logging.getLogger("kdrama_tui.test").warning("a warning line")
    infos = (await api.call("GET", "/api/admin/logs", params={"level": "INFO", "limit": "2000"}))["items"]
    assert {"an info line 1", "a warning line"} <= {r["message"] for r in infos}
    warnings = (await api.call("GET", "/api/admin/logs", params={"level": "warning"}))["items"]
    assert "a warning line" in {r["message"] for r in warnings}
    assert all(r["levelno"] >= logging.WARNING for r in warnings)
    after = (await api.call("GET", "/api/admin/logs", params={"after": infos[-1]["id"]}))["items"]
    assert after == []
    await api.call("GET", "/api/admin/logs", params={"level": "LOUD"}, status=400)
    await api.call("GET", "/api/admin/logs", params={"limit": "0"}, status=400)


async def test_event_history_and_live_stream_over_websocket(api: Api) -> None:
    bus = api.svc.events
    first = bus.publish("video.created", video_id=1, title="Old")
    history = (await api.call("GET", "/api/admin/events"))["items"]
    assert history[-1] == {"kind": "event", "id": first.id, "type": "video.created", "ts": first.ts,
                           "data": {"video_id": 1, "title": "Old"}}
    anonymous = await api.http.get("/api/admin/events", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert anonymous.status == 401

    async with api.http.ws_connect("/api/admin/events", params={"history": "1", "logs": "WARNING"},
                                   headers=api.as_admin()) as ws:
        replayed = await _next(ws, "event")
        assert replayed["type"] == "video.created" and replayed["data"]["title"] == "Old"
        bus.publish("job.progress", job_id=3, progress=42.5, when=utcnow())  # a datetime must not kill it
        live = await _next(ws, "event")
        assert (live["type"], live["data"]["progress"]) == ("job.progress", 42.5)
        logging.getLogger("kdrama_tui.test").info("below the asked level")
        logging.getLogger("kdrama_tui.test").error("disk trouble")
        record = await _next(ws, "log")
        assert (record["level"], record["message"]) == ("ERROR", "disk trouble")

    async with api.http.ws_connect("/api/admin/events", params={"after": str(live["id"])},
                                   headers=api.as_admin()) as ws:
        hello = await _next(ws, "hello")
        created = bus.publish("user.created", user_id=9)
        assert (await _next(ws, "event"))["type"] == "user.created"  # nothing older than `after` replayed

    # Reconnecting to the same process: `after` holds, so the user.created already seen is not sent again.
    async with api.http.ws_connect("/api/admin/events", headers=api.as_admin(), params={
            "after": str(created.id), "boot": hello["boot"], "history": "5"}) as ws:
        bus.publish("user.updated", user_id=9)
        assert (await _next(ws, "event"))["type"] == "user.updated"
    # A client that last saw another server process (whose ids ran higher) gets the recent history again.
    async with api.http.ws_connect("/api/admin/events", headers=api.as_admin(), params={
            "after": "100000", "boot": "1.5", "history": "1"}) as ws:
        assert (await _next(ws, "event"))["type"] == "user.updated"


async def _next(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type == WSMsgType.TEXT, message
        item = json.loads(message.data)
        if item["kind"] == kind:
            return item
