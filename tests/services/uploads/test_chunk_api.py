"""The chunk upload API end to end: shuffled parallel chunks become one byte-identical original, a video
row and a queued transcoding job; completion is idempotent; progress is visible while bytes arrive."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.service import Principal
from kdrama_tui.services.container import Services
from tests.support.uploads import (
    Account,
    chunks_of,
    create_upload,
    original_bytes,
    put_chunk,
    random_bytes,
    sha256,
    upload_all,
    upload_folders,
)


async def test_shuffled_parallel_chunks_make_a_byte_identical_original(
        svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(3 * 1024 * 1024 + 12345, seed=7)
    upload = await create_upload(client, vip, data, total_chunks=13,
                                 metadata={"title": "Queen of Tears", "year": 2024, "genre": "romance",
                                           "actors": ["Kim Soo-hyun", "Kim Ji-won"], "is_public": False})
    assert upload["status"] == "pending" and upload["uploaded_chunks"] == []
    assert upload["chunk_size"] == -(-len(data) // 13)
    order = list(range(13))
    random.Random(3).shuffle(order)
    await upload_all(client, vip, upload, data, order=order, parallel=4)

    status = await (await client.get(f"/api/uploads/{upload['id']}", headers=vip.headers)).json()
    assert status["status"] == "uploading"
    assert status["uploaded_chunks"] == list(range(13))
    assert status["bytes_received"] == len(data) and status["progress"] == 100.0

    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 202
    body = await response.json()
    video = await repos_of(svc.db).videos.get(body["video_id"])
    assert (video.title, video.year, video.genre, video.actors, video.is_public) == \
        ("Queen of Tears", 2024, "romance", ["Kim Soo-hyun", "Kim Ji-won"], False)
    assert video.status == "processing" and video.uploader_user_id == vip.user_id
    assert video.original_filename == "episode01.mkv"
    assert await original_bytes(svc, video.id) == data
    jobs = await repos_of(svc.db).jobs.find_by_video(video.id)
    assert [j.status for j in jobs] == ["queued"]

    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert (row.status, row.video_id) == ("completed", video.id) and row.completed_at is not None
    assert upload_folders(svc) == []  # the parts are gone once the original is in storage
    types = [e.type for e in svc.events.recent(200, prefix="upload.")]
    assert types[0] == "upload.created" and types[-1] == "upload.completed"


async def test_complete_is_idempotent_even_when_called_concurrently(
        svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(700_000, seed=2)
    upload = await create_upload(client, vip, data, total_chunks=3, sha256=sha256(data))
    await upload_all(client, vip, upload, data)
    url = f"/api/uploads/{upload['id']}/complete"
    responses = await asyncio.gather(*(client.post(url, headers=vip.headers) for _ in range(3)))
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [202, 202, 202]
    assert len({b["video_id"] for b in bodies}) == 1
    again = await client.post(url, headers=vip.headers)
    assert again.status == 202 and (await again.json())["video_id"] == bodies[0]["video_id"]
    assert await repos_of(svc.db).videos.count() == 1
    assert await repos_of(svc.db).jobs.count() == 1


async def test_complete_lists_missing_chunks(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(500_000, seed=3)
    upload = await create_upload(client, vip, data, total_chunks=5)
    parts = chunks_of(data, upload["chunk_size"])
    for n in (0, 2, 4):
        assert (await put_chunk(client, vip, upload["id"], n, parts[n]))[0] == 200
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "missing_chunks" and error["details"]["missing"] == [1, 3]
    assert "1, 3" in error["message"]
    assert (await repos_of(svc.db).uploads.get(upload["id"])).status == "uploading"  # still open, resumable
    for n in (1, 3):
        assert (await put_chunk(client, vip, upload["id"], n, parts[n]))[0] == 200
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 202
    assert await original_bytes(svc, (await response.json())["video_id"]) == data


async def test_whole_file_sha256_mismatch_fails_the_upload_without_a_video(
        svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(400_000, seed=4)
    upload = await create_upload(client, vip, data, total_chunks=2, sha256="ab" * 32)
    await upload_all(client, vip, upload, data)
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "checksum_mismatch"
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.status == "failed" and "SHA-256" in (row.error_message or "")
    assert await repos_of(svc.db).videos.count() == 0
    assert await svc.storage.list("originals/") == []
    assert upload_folders(svc) == []
    again = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert again.status == 409 and (await again.json())["error"]["code"] == "upload_failed"


async def test_delete_aborts_and_removes_the_bytes(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(300_000, seed=5)
    upload = await create_upload(client, vip, data, total_chunks=3)
    parts = chunks_of(data, upload["chunk_size"])
    await put_chunk(client, vip, upload["id"], 0, parts[0])
    assert upload_folders(svc) != []
    response = await client.delete(f"/api/uploads/{upload['id']}", headers=vip.headers)
    assert response.status == 204
    assert upload_folders(svc) == []
    status = await (await client.get(f"/api/uploads/{upload['id']}", headers=vip.headers)).json()
    assert status["status"] == "aborted" and status["expires_at"] is None
    code, body = await put_chunk(client, vip, upload["id"], 1, parts[1])
    assert code == 410 and body["error"]["code"] == "upload_aborted"
    done = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert done.status == 410
    assert (await client.delete(f"/api/uploads/{upload['id']}", headers=vip.headers)).status == 204
    assert [e.type for e in svc.events.recent(prefix="upload.aborted")] == ["upload.aborted"]


async def test_extra_create_fields_are_ignored(svc: Services, client: TestClient, vip: Account,
                                               other: Account) -> None:
    data = random_bytes(1000, seed=6)
    upload = await create_upload(
        client, vip, data, total_chunks=1, path="/etc/cron.d/evil", owner_id=other.user_id,
        user_id=other.user_id, status="completed", video_id=1, token="x" * 40, id=999,
        metadata={"title": "T", "status": "ready", "uploader_user_id": other.user_id, "path": "/x"})
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.user_id == vip.user_id and row.status == "pending" and row.video_id is None
    assert row.id != 999 and row.token != "x" * 40
    assert row.metadata == {"title": "T"}
    await upload_all(client, vip, upload, data)
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    video = await repos_of(svc.db).videos.get((await response.json())["video_id"])
    assert video.uploader_user_id == vip.user_id and video.status == "processing"


async def test_hostile_filenames_are_only_data(svc: Services, client: TestClient, vip: Account) -> None:
    names = {
        "../../etc/passwd": "passwd",
        "/abs/path/video.mp4": "video.mp4",
        "..\\..\\windows\\x.mkv": "x.mkv",
        "nul\x00byte.mkv": "nulbyte.mkv",
        "a" * 300 + ".mkv": "a" * 255,
        "evil\u202egpj.exe": "evilgpj.exe",
        "드라마 第1話 🎬.mkv": "드라마 第1話 🎬.mkv",
        "CON": "CON",
    }
    for raw, shown in names.items():
        data = random_bytes(2048, seed=len(raw))
        upload = await create_upload(client, vip, data, total_chunks=1, filename=raw)
        assert upload["filename"] == shown
        await upload_all(client, vip, upload, data)
        response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
        assert response.status == 202, await response.text()
        video_id = (await response.json())["video_id"]
        original = (await repos_of(svc.db).video_files.find_by_video(video_id, "original"))[0]
        assert original.file_path.startswith("originals/")
        folder, name = original.file_path.split("/")[1:]
        assert len(folder) == 32 and name.split(".")[0] == "source"  # a generated name, never the user's
        assert (await repos_of(svc.db).videos.get(video_id)).original_filename == shown
    media = svc.settings.media_root.resolve()
    for path in media.rglob("*"):
        assert path.resolve().is_relative_to(media)
    assert not (svc.settings.data_dir / "etc").exists()


async def test_progress_shows_bytes_in_flight_and_events_are_throttled(
        svc: Services, client: TestClient, vip: Account) -> None:
    now = [1000.0]
    svc.uploads.inflight.monotonic = lambda: now[0]
    data = random_bytes(2 * 1024 * 1024, seed=8)
    upload = await create_upload(client, vip, data, total_chunks=2)
    parts = chunks_of(data, upload["chunk_size"])
    half = len(parts[0]) // 2
    release = asyncio.Event()

    async def slow_body() -> Any:
        yield parts[0][:half]
        await release.wait()
        yield parts[0][half:]

    headers = {**vip.headers, "X-Chunk-SHA256": sha256(parts[0])}
    pending = asyncio.create_task(client.put(f"/api/uploads/{upload['id']}/chunks/0", data=slow_body(),
                                             headers=headers))
    for _ in range(200):
        view = await (await client.get(f"/api/uploads/{upload['id']}", headers=vip.headers)).json()
        if view["bytes_in_flight"] >= half:
            break
        await asyncio.sleep(0.01)
    assert view["bytes_in_flight"] == half and view["bytes_verified"] == 0
    assert view["bytes_received"] == half and view["chunks_in_flight"] == 1
    assert 0 < view["progress"] < 50
    active = await svc.uploads.list_active()
    assert [(a["id"], a["username"], a["bytes_received"]) for a in active] == \
        [(upload["id"], "vip_uploader", half)]
    release.set()
    assert (await pending).status == 200

    progress = [e for e in svc.events.recent(200) if e.type == "upload.progress"]
    assert len(progress) == 1  # the clock did not move: one event, however many bytes arrived
    now[0] += 1.0
    assert (await put_chunk(client, vip, upload["id"], 1, parts[1]))[0] == 200
    progress = [e for e in svc.events.recent(200) if e.type == "upload.progress"]
    assert len(progress) == 2
    assert progress[-1].data["upload_id"] == upload["id"] and progress[-1].data["total_size"] == len(data)
    done = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert done.status == 202
    assert await svc.uploads.list_active() == []


async def test_bearer_tokens_reach_the_same_upload_path(svc: Services, client: TestClient, vip: Account) -> None:
    """JWTs come from the auth service (services.tokens); the upload routes only see the principal."""
    user = await svc.accounts.get_user(vip.user_id)

    class Tokens:
        async def authenticate_access_token(self, token: str) -> Principal:
            assert token == "access-jwt"
            return Principal(user=user, via="jwt")

    svc.tokens = Tokens()  # type: ignore[attr-defined]
    bearer = Account(vip.user_id, vip.username, "")
    data = random_bytes(5000, seed=9)
    response = await client.post("/api/uploads", json={"filename": "a.mp4", "total_size": len(data),
                                                       "total_chunks": 1},
                                 headers={"Authorization": "Bearer access-jwt"})
    assert response.status == 201
    upload = await response.json()
    put = await client.put(f"/api/uploads/{upload['id']}/chunks/0", data=data,
                           headers={"Authorization": "Bearer access-jwt", "X-Chunk-SHA256": sha256(data)})
    assert put.status == 200
    assert bearer.user_id == (await repos_of(svc.db).uploads.get(upload["id"])).user_id


async def test_callers_find_their_own_uploads_to_resume(svc: Services, client: TestClient, vip: Account,
                                                        other: Account) -> None:
    data = random_bytes(2000, seed=10)
    first = await create_upload(client, vip, data, total_chunks=2)
    second = await create_upload(client, vip, data, total_chunks=1, filename="ep02.mkv")
    await create_upload(client, other, data, total_chunks=1)
    await put_chunk(client, vip, first["id"], 0, data[:1000])
    listed = await (await client.get("/api/uploads", headers=vip.headers)).json()
    assert [(u["id"], u["uploaded_chunks"]) for u in listed["items"]] == [(second["id"], []), (first["id"], [0])]
    one = await (await client.get("/api/uploads?limit=1", headers=vip.headers)).json()
    assert [u["id"] for u in one["items"]] == [second["id"]]
    bad = await client.get("/api/uploads?limit=0", headers=vip.headers)
    assert bad.status == 400
    assert (await client.get("/api/uploads")).status == 401


async def test_openapi_describes_the_upload_routes(client: TestClient) -> None:
    paths = (await (await client.get("/api/openapi.json")).json())["paths"]
    assert {"post", "get"} <= set(paths["/api/uploads"])
    assert "put" in paths["/api/uploads/{id}/chunks/{n}"]
    assert "post" in paths["/api/uploads/{id}/complete"] and "delete" in paths["/api/uploads/{id}"]
    assert {"post", "options"} <= set(paths["/api/tus/"])
    assert {"patch", "delete", "options"} <= set(paths["/api/tus/{token}"])
    put = paths["/api/uploads/{id}/chunks/{n}"]["put"]
    assert put["summary"].startswith("Upload chunk") and "422" in put["responses"]
