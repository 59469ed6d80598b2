"""SIGKILL the real server (``python -m kdrama_tui serve``) in the middle of a chunk or a tus PATCH,
restart it, and finish the upload: it resumes from the verified parts and the original's SHA-256 equals
the source's."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import build_services
from tests.support.serve import ServeProcess
from tests.support.uploads import chunks_of, files_under, sha256, write_random_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(settings, tmp_path / "server.log")
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
async def api_key(settings: Settings) -> str:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        user = await svc.accounts.create_user("vip_uploader", "vip@example.com", "correct horse battery")
        key, _ = await svc.accounts.issue_api_key(user.id)
        return key
    finally:
        await svc.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def stored_original_sha256(settings: Settings, upload_id: int) -> str:
    svc = await build_services(settings)
    try:
        upload = await repos_of(svc.db).uploads.get(upload_id)
        assert upload.status == "completed" and upload.video_id is not None
        assert await repos_of(svc.db).videos.count() == 1
        # One job was handed off; the restarted server's transcode queue may already be working on it.
        jobs = await repos_of(svc.db).jobs.find_by_video(upload.video_id)
        assert len(jobs) == 1 and jobs[0].status in ("queued", "processing", "completed", "failed")
        original = (await repos_of(svc.db).video_files.find_by_video(upload.video_id, "original"))[0]
        path = svc.storage.local_path(original.file_path)
        assert path is not None
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        assert digest.hexdigest() == original.checksum
        return digest.hexdigest()
    finally:
        await svc.close()


async def wait_for_bytes_in_flight(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 30  # a deadline, not a count of polls: a loaded machine answers slowly
    while time.monotonic() < deadline:
        async with http.get(url, headers=headers) as response:
            if (await response.json())["bytes_in_flight"] > 0:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never reported bytes in flight")


async def test_sigkill_mid_chunk_then_resume(settings: Settings, server: ServeProcess, api_key: str,
                                             http: aiohttp.ClientSession, tmp_path: Path) -> None:
    source = tmp_path / "episode.mkv"
    source_sha = write_random_file(source, 6 * 1024 * 1024 + 333)
    data = source.read_bytes()
    headers = {"X-API-Key": api_key}
    await server.start()
    async with http.post(server.url + "/api/uploads", headers=headers, json={
            "filename": "episode.mkv", "total_size": len(data), "total_chunks": 6, "sha256": source_sha}) as r:
        assert r.status == 201
        upload = await r.json()
    parts = chunks_of(data, upload["chunk_size"])
    chunk_url = server.url + f"/api/uploads/{upload['id']}/chunks/{{}}"
    for n in (0, 2, 4):
        async with http.put(chunk_url.format(n), data=parts[n],
                            headers={**headers, "X-Chunk-SHA256": sha256(parts[n])}) as r:
            assert r.status == 200

    never = asyncio.Event()

    async def half_then_hang() -> Any:
        yield parts[1][: len(parts[1]) // 2]
        await never.wait()

    in_flight = asyncio.create_task(http.put(chunk_url.format(1), data=half_then_hang(),
                                             headers={**headers, "X-Chunk-SHA256": sha256(parts[1])}))
    status_url = server.url + f"/api/uploads/{upload['id']}"
    await wait_for_bytes_in_flight(http, status_url, headers)
    folder = settings.uploads_dir / next(p.name for p in settings.uploads_dir.iterdir())
    assert any(p.name.endswith(".tmp") for p in files_under(folder))  # killed with a chunk half-written
    server.kill()
    in_flight.cancel()
    with pytest.raises((asyncio.CancelledError, aiohttp.ClientError)):
        await in_flight

    await server.start()
    async with http.get(status_url, headers=headers) as r:
        view = await r.json()
    assert view["status"] == "uploading" and view["uploaded_chunks"] == [0, 2, 4]
    assert view["bytes_in_flight"] == 0
    assert view["bytes_verified"] == sum(len(parts[n]) for n in (0, 2, 4))
    for _ in range(100):  # the cleanup task sweeps the half-written temp file at start-up
        if not any(p.name.endswith(".tmp") for p in files_under(folder)):
            break
        await asyncio.sleep(0.05)
    assert not any(p.name.endswith(".tmp") for p in files_under(folder))
    for n in (1, 3, 5):
        async with http.put(chunk_url.format(n), data=parts[n],
                            headers={**headers, "X-Chunk-SHA256": sha256(parts[n])}) as r:
            assert r.status == 200
    async with http.post(status_url + "/complete", headers=headers) as r:
        assert r.status == 202
    server.kill()
    assert await stored_original_sha256(settings, upload["id"]) == source_sha


async def test_sigkill_mid_tus_patch_then_tuspy_resumes(settings: Settings, server: ServeProcess, api_key: str,
                                                        http: aiohttp.ClientSession, tmp_path: Path) -> None:
    source = tmp_path / "episode.mp4"
    source_sha = write_random_file(source, 5 * 1024 * 1024 + 77)
    chunk = 1024 * 1024
    headers = {"X-API-Key": api_key}
    await server.start()
    tus = TusClient(server.url + "/api/tus/", headers=headers)
    uploader = await asyncio.to_thread(Uploader, file_path=str(source), client=tus, chunk_size=chunk,
                                       metadata={"filename": "episode.mp4", "title": "Resumed"})
    await asyncio.to_thread(uploader.upload, stop_at=2 * chunk)
    assert uploader.offset == 2 * chunk

    never = asyncio.Event()
    data = source.read_bytes()

    async def half_then_hang() -> Any:
        yield data[2 * chunk: 2 * chunk + chunk // 2]
        await never.wait()

    # Asked before the PATCH: a HEAD during it would supersede it (a resuming client's way, as tusd does).
    async with http.head(uploader.url, headers={**headers, "Tus-Resumable": "1.0.0"}) as r:
        upload_id = r.headers["X-Upload-Id"]
    patching = asyncio.create_task(http.patch(uploader.url, data=half_then_hang(), headers={
        **headers, "Tus-Resumable": "1.0.0", "Upload-Offset": str(2 * chunk),
        "Content-Type": "application/offset+octet-stream"}))
    await wait_for_bytes_in_flight(http, server.url + f"/api/uploads/{upload_id}", headers)
    server.kill()
    patching.cancel()
    with pytest.raises((asyncio.CancelledError, aiohttp.ClientError)):
        await patching

    await server.start()
    resumed = await asyncio.to_thread(Uploader, file_path=str(source), url=uploader.url, client=tus,
                                      chunk_size=chunk)
    assert resumed.offset == 2 * chunk  # what the killed PATCH had not made durable is not counted
    await asyncio.to_thread(resumed.upload)
    server.kill()
    assert await stored_original_sha256(settings, int(upload_id)) == source_sha
