"""tus 1.0 with the real tuspy client, the protocol's rules, and a resume after a dropped connection."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

from kdrama_tui.models import Upload
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from tests.support.netcut import CuttingProxy
from tests.support.uploads import Account, files_under, original_bytes, random_bytes

TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """tuspy is blocking (requests); the server runs on this loop, so the client runs in a thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def upload_of(svc: Services, url: str) -> Upload:
    upload = await repos_of(svc.db).uploads.find_by_token(url.rstrip("/").rsplit("/", 1)[-1])
    assert upload is not None
    return upload


async def create(client: TestClient, account: Account, length: int, metadata: str | None = None,
                 **headers: str) -> Any:
    extra = {"Upload-Metadata": metadata} if metadata is not None else {}
    return await client.post("/api/tus/", headers={**TUS, **account.headers, "Upload-Length": str(length),
                                                   **extra, **headers})


async def patch(client: TestClient, account: Account, location: str, offset: int, body: bytes,
                **headers: str) -> Any:
    return await client.patch(location, data=body, headers={
        **TUS, **account.headers, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", **headers})


@pytest.mark.parametrize("checksum", ["none", "sha1", "sha256"])
async def test_tuspy_upload_makes_a_video(svc: Services, client: TestClient, vip: Account, tmp_path: Path,
                                          checksum: str) -> None:
    data = random_bytes(2_500_000, seed=21)
    source = tmp_path / "ep02.mp4"
    source.write_bytes(data)
    tus = TusClient(str(client.make_url("/api/tus/")), headers=vip.headers)
    kind = Sha256Uploader if checksum == "sha256" else Uploader
    uploader = await in_thread(kind, file_path=str(source), client=tus, chunk_size=600_000,
                               upload_checksum=checksum != "none",
                               metadata={"filename": "ep02.mp4", "title": "Moving", "year": "2023",
                                         "genre": "action", "actors": "Ryu Seung-ryong, Han Hyo-joo",
                                         "is_public": "false", "filetype": "video/mp4"})
    await in_thread(uploader.upload)

    upload = await upload_of(svc, uploader.url)
    assert upload.status == "completed" and upload.protocol == "tus" and upload.user_id == vip.user_id
    assert upload.total_chunks == 5 and upload.uploaded_chunks == [0, 1, 2, 3, 4]
    video = await repos_of(svc.db).videos.get(upload.video_id)
    assert (video.title, video.year, video.genre, video.actors, video.is_public, video.status) == \
        ("Moving", 2023, "action", ["Ryu Seung-ryong", "Han Hyo-joo"], False, "processing")
    assert await original_bytes(svc, video.id) == data
    assert [j.status for j in await repos_of(svc.db).jobs.find_by_video(video.id)] == ["queued"]
    assert files_under(svc.settings.uploads_dir) == []
    head = await client.head(f"/api/tus/{upload.token}", headers={**TUS, **vip.headers})
    assert head.status == 200 and head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["X-Video-Id"] == str(video.id)


async def test_options_advertises_the_server(svc: Services, client: TestClient) -> None:
    for path in ("/api/tus/", "/api/tus"):
        response = await client.options(path)
        assert response.status == 204
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert set(response.headers["Tus-Extension"].split(",")) == {
            "creation", "creation-with-upload", "creation-defer-length", "checksum", "termination", "expiration"}
        assert response.headers["Tus-Max-Size"] == str(svc.settings.uploads.max_size)
        assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}


async def test_wrong_or_missing_version_is_412(client: TestClient, vip: Account) -> None:
    for version in (None, "0.2.2", "1.0"):
        headers = {**vip.headers, "Upload-Length": "10"}
        if version:
            headers["Tus-Resumable"] = version
        response = await client.post("/api/tus/", headers=headers)
        assert response.status == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert (await response.json())["error"]["code"] == "unsupported_tus_version"


async def test_creation_head_and_patch(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(3000, seed=22)
    metadata = f"filename {b64('../../좋아.mkv')},title {b64('Good')},is_public {b64('true')},flag"
    response = await create(client, vip, len(data), metadata)
    assert response.status == 201
    location = response.headers["Location"]
    token = location.rsplit("/", 1)[-1]
    assert location == f"/api/tus/{token}"
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
    assert response.headers["Upload-Offset"] == "0" and response.headers["Tus-Resumable"] == "1.0.0"
    expires = parsedate_to_datetime(response.headers["Upload-Expires"])
    upload = await upload_of(svc, location)
    assert abs(expires - upload.expires_at) < timedelta(seconds=1)
    assert upload.filename == "좋아.mkv" and upload.metadata == {"title": "Good", "is_public": True}

    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", "3000")
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Metadata"] == metadata  # as sent; the stored filename is the cleaned one

    first = await patch(client, vip, location, 0, data[:1000])
    assert first.status == 204 and first.headers["Upload-Offset"] == "1000"
    assert "Upload-Expires" in first.headers
    stale = await patch(client, vip, location, 0, data[:1000])
    assert stale.status == 409 and (await stale.json())["error"]["code"] == "offset_mismatch"
    assert stale.headers["Upload-Offset"] == "1000"
    wrong_type = await patch(client, vip, location, 1000, data[1000:], **{"Content-Type": "text/plain"})
    assert wrong_type.status == 415
    last = await patch(client, vip, location, 1000, data[1000:])
    assert last.status == 204 and last.headers["Upload-Offset"] == "3000"
    video_id = int(last.headers["X-Video-Id"])
    assert await original_bytes(svc, video_id) == data
    after = await patch(client, vip, location, 3000, b"x")
    assert after.status == 409 and (await after.json())["error"]["code"] == "upload_completed"


async def test_creation_with_upload(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(5000, seed=23)
    response = await client.post("/api/tus/", data=data[:2000], headers={
        **TUS, **vip.headers, "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": f"filename {b64('a.webm')}"})
    assert response.status == 201 and response.headers["Upload-Offset"] == "2000"
    rest = await patch(client, vip, response.headers["Location"], 2000, data[2000:])
    assert rest.status == 204
    assert await original_bytes(svc, int(rest.headers["X-Video-Id"])) == data

    whole = await client.post("/api/tus/", data=data, headers={
        **TUS, **vip.headers, "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()})  # noqa: S324
    assert whole.status == 201 and whole.headers["Upload-Offset"] == str(len(data)) and "X-Video-Id" in whole.headers


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_checksum_mismatch_is_460_and_keeps_nothing(svc: Services, client: TestClient, vip: Account,
                                                          algorithm: str) -> None:
    data = random_bytes(4000, seed=24)
    location = (await create(client, vip, len(data))).headers["Location"]
    wrong = base64.b64encode(hashlib.new(algorithm, b"not this").digest()).decode()
    response = await patch(client, vip, location, 0, data, **{"Upload-Checksum": f"{algorithm} {wrong}"})
    assert response.status == 460 and (await response.json())["error"]["code"] == "checksum_mismatch"
    upload = await upload_of(svc, location)
    assert upload.bytes_received == 0 and upload.uploaded_chunks == []
    assert files_under(svc.settings.uploads_dir / upload.token) == []
    right = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    ok = await patch(client, vip, location, 0, data, **{"Upload-Checksum": f"{algorithm} {right}"})
    assert ok.status == 204 and ok.headers["Upload-Offset"] == str(len(data))


@pytest.mark.parametrize(("header", "code"), [
    ("md5 " + base64.b64encode(b"x" * 16).decode(), "unsupported_checksum"),
    ("sha1 not-base64!!", "invalid_checksum"),
    ("sha256 " + base64.b64encode(b"short").decode(), "invalid_checksum"),
    ("sha1", "invalid_checksum"),
])
async def test_malformed_checksum_headers(svc: Services, client: TestClient, vip: Account, header: str,
                                          code: str) -> None:
    location = (await create(client, vip, 100)).headers["Location"]
    response = await patch(client, vip, location, 0, b"x" * 100, **{"Upload-Checksum": header})
    assert response.status == 400 and (await response.json())["error"]["code"] == code
    assert (await upload_of(svc, location)).bytes_received == 0


async def test_bad_creation_and_patch_headers(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.max_size = 10_000
    svc.settings.uploads.max_chunk_size = 4_000
    cases = [({}, 400, "missing_header"), ({"Upload-Length": "-1"}, 400, "invalid_header"),
             ({"Upload-Length": "1e3"}, 400, "invalid_header"), ({"Upload-Length": "0"}, 400, "invalid_size"),
             ({"Upload-Length": "10001"}, 413, "upload_too_large"),
             ({"Upload-Length": "10", "Upload-Metadata": "filename !!!"}, 400, "invalid_metadata"),
             ({"Upload-Length": "10", "Upload-Metadata": f"a {b64('x')},a {b64('y')}"}, 400, "invalid_metadata"),
             ({"Upload-Length": "10", "Upload-Metadata": f"year {b64('1700')}"}, 400, "invalid_metadata"),
             ({"Upload-Length": "10", "Upload-Defer-Length": "1"}, 400, "invalid_header"),
             ({"Upload-Defer-Length": "2"}, 400, "invalid_header")]
    for headers, status, code in cases:
        response = await client.post("/api/tus/", headers={**TUS, **vip.headers, **headers})
        assert response.status == status, headers
        assert (await response.json())["error"]["code"] == code
    assert await repos_of(svc.db).uploads.count() == 0

    location = (await create(client, vip, 6_000)).headers["Location"]
    too_big = await patch(client, vip, location, 0, b"x" * 4_001)
    assert too_big.status == 413 and (await too_big.json())["error"]["code"] == "chunk_too_large"
    ok = await patch(client, vip, location, 0, b"x" * 4_000)
    assert ok.status == 204
    past = await patch(client, vip, location, 4_000, b"x" * 2_001)
    assert past.status == 413 and (await past.json())["error"]["code"] == "exceeds_upload_length"
    bad_offset = await patch(client, vip, location, 0, b"", **{"Upload-Offset": "abc"})
    assert bad_offset.status == 400
    assert (await upload_of(svc, location)).bytes_received == 4_000


async def test_termination(svc: Services, client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 1000)).headers["Location"]
    await patch(client, vip, location, 0, b"x" * 400)
    upload = await upload_of(svc, location)
    assert files_under(svc.settings.uploads_dir / upload.token) != []
    response = await client.delete(location, headers={**TUS, **vip.headers})
    assert response.status == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    assert not (svc.settings.uploads_dir / upload.token).exists()
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 410
    again = await patch(client, vip, location, 400, b"x")
    assert again.status == 410
    assert (await upload_of(svc, location)).status == "aborted"


async def test_method_override(svc: Services, client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 10)).headers["Location"]
    response = await client.post(location, data=b"0123456789", headers={
        **TUS, **vip.headers, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert response.status == 204 and "X-Video-Id" in response.headers
    plain = await client.post(location, headers={**TUS, **vip.headers})
    assert plain.status == 405


async def test_ownership_is_checked_on_every_request(svc: Services, client: TestClient, vip: Account,
                                                     other: Account) -> None:
    location = (await create(client, vip, 100)).headers["Location"]
    h = {**TUS, **other.headers}
    assert (await client.head(location, headers=h)).status == 404
    assert (await patch(client, other, location, 0, b"x" * 10)).status == 404
    assert (await client.delete(location, headers=h)).status == 404
    for headers in ({}, {"X-API-Key": "kd_wrong"}):
        assert (await client.head(location, headers={**TUS, **headers})).status == 401
        response = await client.patch(location, data=b"x", headers={
            **TUS, **headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert response.status == 401
        assert (await client.post("/api/tus/", headers={**TUS, **headers, "Upload-Length": "5"})).status == 401
    for bogus in ("/api/tus/" + "A" * 32, "/api/tus/..%2F..%2Fetc", "/api/tus/" + "x" * 300):
        assert (await client.head(bogus, headers={**TUS, **vip.headers})).status == 404
    upload = await upload_of(svc, location)
    assert upload.bytes_received == 0 and upload.status == "pending"


async def test_expired_upload_is_gone(svc: Services, client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 100)).headers["Location"]
    await patch(client, vip, location, 0, b"x" * 50)
    upload = await upload_of(svc, location)
    svc.uploads.clock = lambda: upload.expires_at + timedelta(seconds=1)
    assert (await svc.uploads.sweep())["expired"] == 1
    assert not (svc.settings.uploads_dir / upload.token).exists()
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 410
    response = await patch(client, vip, location, 50, b"x" * 50)
    assert response.status == 410 and (await response.json())["error"]["code"] == "upload_expired"


@pytest.mark.parametrize("with_checksum", [False, True])
async def test_tuspy_resumes_after_the_connection_drops_mid_patch(
        svc: Services, client: TestClient, vip: Account, tmp_path: Path, with_checksum: bool) -> None:
    data = random_bytes(3 * 1024 * 1024, seed=25)
    source = tmp_path / "ep03.mkv"
    source.write_bytes(data)
    chunk = 1024 * 1024

    async def server_has_part_of_the_body() -> None:
        for _ in range(500):
            uploads = await repos_of(svc.db).uploads.list()
            if uploads and svc.uploads.inflight.bytes_in_flight(uploads[0].id) >= 300_000:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the server never started reading the second PATCH")

    # Connection 1 is the POST, 2 the first PATCH; the second PATCH (connection 3) dies after ~400 KB.
    proxy = CuttingProxy(client.server.host, client.server.port, cut_connection=3, cut_after=400_000,
                         before_cut=server_has_part_of_the_body)
    port = await proxy.start()
    settled: list[str] = []  # outcome of each PATCH the server finished handling
    append = svc.uploads.append

    async def watched_append(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await append(*args, **kwargs)
        except BaseException as exc:
            settled.append(type(exc).__name__)
            raise
        settled.append("ok")
        return result

    svc.uploads.append = watched_append  # type: ignore[method-assign]
    try:
        tus = TusClient(f"http://127.0.0.1:{port}/api/tus/", headers=vip.headers)
        uploader = await in_thread(Uploader, file_path=str(source), client=tus, chunk_size=chunk,
                                   upload_checksum=with_checksum, metadata={"filename": "ep03.mkv"})
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            await in_thread(uploader.upload)
        assert proxy.cuts == 1
        for _ in range(500):  # the server notices the reset and settles the interrupted PATCH
            if len(settled) == 2:
                break
            await asyncio.sleep(0.01)
        assert settled[0] == "ok" and len(settled) == 2
        upload = await upload_of(svc, uploader.url)
        if with_checksum:
            assert upload.bytes_received == chunk  # a checksummed PATCH is all or nothing
        else:
            assert chunk < upload.bytes_received < 2 * chunk  # what arrived before the drop was kept
        assert files_under(svc.settings.uploads_dir / upload.token) != []
        assert not any(p.name.endswith(".tmp") for p in files_under(svc.settings.uploads_dir / upload.token))

        # A new client session resumes from the URL: HEAD for the offset, then the rest.
        resumed = await in_thread(Uploader, file_path=str(source), url=uploader.url, client=tus,
                                  chunk_size=chunk, upload_checksum=with_checksum)
        assert resumed.offset == upload.bytes_received
        await in_thread(resumed.upload)
    finally:
        await proxy.close()
    upload = await upload_of(svc, uploader.url)
    assert upload.status == "completed"
    assert await original_bytes(svc, upload.video_id) == data
    assert await repos_of(svc.db).videos.count() == 1
