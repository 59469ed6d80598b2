"""tus 1.0 to the letter, on both databases: Upload-Metadata given back as sent, an empty PATCH at the end
of a completed upload, termination of a completed upload, and X-HTTP-Method-Override on any method."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from kdrama_tui.db import open_database
from kdrama_tui.db.migrate import apply_migrations
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from tests.services.uploads.test_migration_0004 import migrate_up_to
from tests.services.uploads.test_tus import b64, create, in_thread, patch, upload_of
from tests.support.uploads import Account, original_bytes, random_bytes

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {"Content-Type": "application/offset+octet-stream"}


async def completed_upload(client: TestClient, account: Account, data: bytes) -> tuple[str, int]:
    """(location, video id) of an upload sent in one PATCH."""
    location = (await create(client, account, len(data), f"filename {b64('done.mkv')}")).headers["Location"]
    last = await patch(client, account, location, 0, data)
    assert last.status == 204, await last.text()
    return location, int(last.headers["X-Video-Id"])


# ---- Upload-Metadata --------------------------------------------------------------------------------
async def test_head_gives_upload_metadata_back_exactly_as_sent(svc: Services, client: TestClient,
                                                               vip: Account) -> None:
    # Keys without values, keys the product ignores, and the client's own order and base64 (padding kept).
    sent = f"filetype {b64('video/x-matroska')},flag,title {b64('도깨비')},filename {b64('E01.mkv')},empty"
    location = (await create(client, vip, 100, sent)).headers["Location"]
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 200 and head.headers["Upload-Metadata"] == sent
    upload = await upload_of(svc, location)  # the product still reads its fields from it
    assert upload.filename == "E01.mkv" and upload.metadata == {"title": "도깨비"}
    await patch(client, vip, location, 0, b"x" * 40)
    again = await client.head(location, headers={**TUS, **vip.headers})
    assert again.headers["Upload-Metadata"] == sent and again.headers["Upload-Offset"] == "40"


async def test_head_without_metadata_sends_none(client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 100)).headers["Location"]
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 200 and "Upload-Metadata" not in head.headers


async def test_tuspy_reads_back_what_it_sent(svc: Services, client: TestClient, vip: Account,
                                             tmp_path: Path) -> None:
    source = tmp_path / "ep.mp4"
    source.write_bytes(random_bytes(50_000, seed=61))
    tus = TusClient(str(client.make_url("/api/tus/")), headers=vip.headers)
    uploader = await in_thread(Uploader, file_path=str(source), client=tus, chunk_size=20_000,
                               metadata={"filename": "ep.mp4", "relativePath": "", "filetype": "video/mp4"})
    await in_thread(uploader.upload_chunk)  # created, one PATCH; the client stops here
    head = await client.head("/api/tus/" + uploader.url.rsplit("/", 1)[-1], headers={**TUS, **vip.headers})
    assert head.headers["Upload-Metadata"] == ",".join(uploader.encode_metadata())
    assert head.headers["Upload-Offset"] == "20000"


async def test_migration_0010_keeps_older_tus_uploads_answering_head(database_url: str) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, "0009")
        user = await db.fetch_one("INSERT INTO users (username, email, password_hash) VALUES ('old', 'o@x.io', 'h') "
                                  "RETURNING id")
        assert user is not None
        now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        row = await db.fetch_one(
            "INSERT INTO uploads (user_id, filename, total_size, total_chunks, uploaded_chunks, status, created_at, "
            "token, protocol, metadata, bytes_received, updated_at) VALUES (:u, 'a.mkv', 30, 1, :chunks, "
            "'pending', :t, :token, 'tus', :meta, 0, :t) RETURNING id",
            {"u": user["id"], "chunks": [], "t": now, "token": "m" * 32, "meta": {"title": "Old"}})
        assert row is not None
        assert "0010" in await apply_migrations(db)
        upload = await repos_of(db).uploads.get(row["id"])
        assert (upload.tus_metadata, upload.filename, upload.metadata) == (None, "a.mkv", {"title": "Old"})
        updated = await repos_of(db).uploads.update(upload.id, {"tus_metadata": "k,v " + b64("x")})
        assert updated is not None and updated.tus_metadata == "k,v " + b64("x")
    finally:
        await db.close()


async def test_an_upload_from_before_0010_gets_its_metadata_rebuilt(svc: Services, client: TestClient,
                                                                     vip: Account) -> None:
    location = (await create(client, vip, 100, f"filename {b64('a.mkv')},title {b64('T')}")).headers["Location"]
    upload = await upload_of(svc, location)
    await repos_of(svc.db).uploads.update(upload.id, {"tus_metadata": None})  # as the migration leaves it
    head = await client.head(location, headers={**TUS, **vip.headers})
    pairs = dict(p.split(" ") for p in head.headers["Upload-Metadata"].split(","))
    assert pairs == {"filename": b64("a.mkv"), "title": b64("T")}


# ---- the end of an upload ---------------------------------------------------------------------------
async def test_empty_patch_at_the_end_of_a_completed_upload_is_204(svc: Services, client: TestClient,
                                                                   vip: Account) -> None:
    data = random_bytes(3000, seed=62)
    location, video_id = await completed_upload(client, vip, data)
    # A client that crashed after its last byte resumes: HEAD says everything is there, an empty PATCH
    # at that offset asks for the outcome.
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.headers["Upload-Offset"] == "3000"
    for headers in ({"Content-Length": "0"}, {}):
        again = await patch(client, vip, location, 3000, b"", **headers)
        assert again.status == 204, await again.text()
        assert again.headers["Upload-Offset"] == "3000" and again.headers["X-Video-Id"] == str(video_id)
    assert await repos_of(svc.db).videos.count() == 1
    assert await original_bytes(svc, video_id) == data
    # Only the empty body at the final offset is a harmless retry.
    assert (await patch(client, vip, location, 3000, b"x")).status == 409
    assert (await patch(client, vip, location, 1000, b"")).status == 409


async def test_delete_of_a_completed_upload_ends_it_and_keeps_the_video(svc: Services, client: TestClient,
                                                                        vip: Account) -> None:
    data = random_bytes(2000, seed=63)
    location, video_id = await completed_upload(client, vip, data)
    response = await client.delete(location, headers={**TUS, **vip.headers})
    assert response.status == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    upload = await upload_of(svc, location)
    assert (upload.status, upload.video_id) == ("aborted", video_id)
    assert await original_bytes(svc, video_id) == data  # the video stays
    assert (await repos_of(svc.db).videos.get(video_id)).status == "processing"
    assert (await client.head(location, headers={**TUS, **vip.headers})).status == 410
    assert (await patch(client, vip, location, 2000, b"")).status == 410
    assert (await client.delete(location, headers={**TUS, **vip.headers})).status == 410


async def test_a_second_delete_is_410(svc: Services, client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 1000)).headers["Location"]
    await patch(client, vip, location, 0, b"x" * 100)
    assert (await client.delete(location, headers={**TUS, **vip.headers})).status == 204
    second = await client.delete(location, headers={**TUS, **vip.headers})
    assert second.status == 410 and (await second.json())["error"]["code"] == "upload_aborted"
    assert (await upload_of(svc, location)).status == "aborted"


# ---- X-HTTP-Method-Override -------------------------------------------------------------------------
async def test_method_override_is_the_method_whatever_carries_it(svc: Services, client: TestClient,
                                                                 vip: Account) -> None:
    auth = {**TUS, **vip.headers}
    created = await client.get("/api/tus/", headers={**auth, "X-HTTP-Method-Override": "POST",
                                                      "Upload-Length": "10"})
    assert created.status == 201
    location = created.headers["Location"]
    sent = await client.put(location, data=b"01234", headers={
        **auth, **OFFSET_STREAM, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"})
    assert sent.status == 204 and sent.headers["Upload-Offset"] == "5"
    head = await client.get(location, headers={**auth, "X-HTTP-Method-Override": "HEAD"})
    assert head.status == 200 and head.headers["Upload-Offset"] == "5"
    # PATCH overridden as DELETE is a DELETE: no bytes are written, the upload ends.
    ended = await client.patch(location, data=b"56789", headers={
        **auth, **OFFSET_STREAM, "X-HTTP-Method-Override": "delete", "Upload-Offset": "5"})
    assert ended.status == 204
    upload = await upload_of(svc, location)
    assert (upload.status, upload.bytes_received) == ("aborted", 5)
    gone = await client.post(location, headers={**auth, "X-HTTP-Method-Override": "HEAD"})
    assert gone.status == 410


async def test_without_an_override_other_methods_are_405(client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 10)).headers["Location"]
    auth = {**TUS, **vip.headers}
    for method in ("GET", "PUT", "POST"):
        response = await client.request(method, location, headers=auth)
        assert response.status == 405, method
        assert response.headers["Tus-Resumable"] == "1.0.0"
    unknown = await client.post(location, headers={**auth, "X-HTTP-Method-Override": "BREW"})
    assert unknown.status == 405 and (await unknown.json())["error"]["code"] == "method_not_allowed"
    assert (await client.get("/api/tus/", headers={**auth, "X-HTTP-Method-Override": "PATCH"})).status == 405
