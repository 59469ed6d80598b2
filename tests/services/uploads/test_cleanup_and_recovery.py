"""Expiry of idle uploads (injected clock), the background cleanup task, and recovery from crashes during
assembly and hand-off: redone once, never two videos, never a truncated file."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.uploads import chunkstore
from kdrama_tui.services.uploads.chunkstore import AssemblyError, ChunkStore, PartRef
from tests.support.uploads import (
    Account,
    chunks_of,
    create_upload,
    files_under,
    original_bytes,
    put_chunk,
    random_bytes,
    sha256,
    upload_all,
    upload_folders,
)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(svc: Services) -> Clock:
    fake = Clock()
    svc.uploads.clock = fake
    return fake


async def test_idle_uploads_expire_and_active_ones_stay(svc: Services, client: TestClient, vip: Account,
                                                        clock: Clock) -> None:
    data = random_bytes(4000)
    idle = await create_upload(client, vip, data, total_chunks=4)
    active = await create_upload(client, vip, data, total_chunks=4)
    for upload in (idle, active):
        assert (await put_chunk(client, vip, upload["id"], 0, data[:1000]))[0] == 200
    clock.advance(hours=23)
    assert (await put_chunk(client, vip, active["id"], 1, data[1000:2000]))[0] == 200  # activity extends it
    assert await svc.uploads.sweep() == {"completed": 0, "expired": 0, "removed_folders": 0,
                                         "removed_temp_files": 0}
    clock.advance(hours=2)  # idle: 25 h without a byte; active: 2 h
    report = await svc.uploads.sweep()
    assert report["expired"] == 1
    idle_row = await repos_of(svc.db).uploads.get(idle["id"])
    active_row = await repos_of(svc.db).uploads.get(active["id"])
    assert idle_row.status == "expired" and active_row.status == "uploading"
    assert upload_folders(svc) == [active_row.token]
    assert files_under(svc.settings.uploads_dir / active_row.token) != []
    expired = [e for e in svc.events.recent() if e.type == "upload.expired"]
    assert [e.data["upload_id"] for e in expired] == [idle["id"]]

    status, body = await put_chunk(client, vip, idle["id"], 1, data[1000:2000])
    assert (status, body["error"]["code"]) == (410, "upload_expired")
    view = await (await client.get(f"/api/uploads/{idle['id']}", headers=vip.headers)).json()
    assert view["status"] == "expired"
    assert [u["id"] for u in await svc.uploads.list_active()] == [active["id"]]
    for n in (2, 3):
        await put_chunk(client, vip, active["id"], n, data[n * 1000:(n + 1) * 1000])
    done = await client.post(f"/api/uploads/{active['id']}/complete", headers=vip.headers)
    assert done.status == 202


async def test_sweep_spares_an_upload_whose_bytes_are_arriving(svc: Services, client: TestClient, vip: Account,
                                                               clock: Clock) -> None:
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    release = asyncio.Event()

    async def slow() -> Any:
        yield data[:500]
        await release.wait()
        yield data[500:1000]

    pending = asyncio.create_task(client.put(f"/api/uploads/{upload['id']}/chunks/0", data=slow(),
                                             headers={**vip.headers, "X-Chunk-SHA256": sha256(data[:1000])}))
    for _ in range(200):
        if svc.uploads.inflight.busy(upload["id"]):
            break
        await asyncio.sleep(0.01)
    clock.advance(hours=30)
    assert (await svc.uploads.sweep())["expired"] == 0
    release.set()
    assert (await pending).status == 200
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.status == "uploading" and row.expires_at > clock.now  # the verified chunk extended it


async def test_cleanup_runs_as_a_background_task(svc: Services, client: TestClient, vip: Account,
                                                 clock: Clock) -> None:
    svc.settings.uploads.cleanup_interval_seconds = 0.05
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    await svc.start_background()
    assert "uploads.cleanup" in {t.get_name() for t in svc._tasks}
    clock.advance(hours=25)
    for _ in range(300):
        if (await repos_of(svc.db).uploads.get(upload["id"])).status == "expired":
            break
        await asyncio.sleep(0.02)
    assert (await repos_of(svc.db).uploads.get(upload["id"])).status == "expired"
    assert upload_folders(svc) == []


async def test_crash_during_hand_off_is_redone_once(svc: Services, client: TestClient, vip: Account,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_bytes(900_000, seed=31)
    upload = await create_upload(client, vip, data, total_chunks=3, sha256=sha256(data))
    await upload_all(client, vip, upload, data)
    real = svc.library.accept_original
    calls = 0

    async def dies_before_commit(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            async def crash(tx: Any, video: Any) -> None:
                raise RuntimeError("power cut")  # inside the transaction: nothing of it commits
            kwargs["in_transaction"] = crash
        return await real(**kwargs)

    monkeypatch.setattr(svc.library, "accept_original", dies_before_commit)
    failed = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert failed.status == 500 and (await failed.json())["error"]["code"] == "internal_error"
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.status == "assembling" and row.video_id is None
    assert await repos_of(svc.db).videos.count() == 0
    assert (svc.settings.uploads_dir / row.token / "assembled").stat().st_size == len(data)
    status, body = await put_chunk(client, vip, upload["id"], 0, data[:300_000])
    assert (status, body["error"]["code"]) == (409, "upload_assembling")

    report = await svc.uploads.sweep()  # what the cleanup task does after a restart
    assert report["completed"] == 1
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.status == "completed" and row.video_id is not None
    assert await original_bytes(svc, row.video_id) == data
    again = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert again.status == 202 and (await again.json())["video_id"] == row.video_id
    assert await repos_of(svc.db).videos.count() == 1 and await repos_of(svc.db).jobs.count() == 1
    assert len(await svc.storage.list("originals/")) == 1
    assert upload_folders(svc) == []


async def test_tus_upload_fully_received_is_finished_by_the_sweep(
        svc: Services, client: TestClient, vip: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_bytes(3000, seed=32)
    created = await client.post("/api/tus/", headers={**vip.headers, "Tus-Resumable": "1.0.0",
                                                      "Upload-Length": str(len(data))})
    location = created.headers["Location"]

    async def database_down(**kwargs: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr(svc.library, "accept_original", database_down)
    response = await client.patch(location, data=data, headers={
        **vip.headers, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert response.status == 500
    monkeypatch.undo()
    head = await client.head(location, headers={**vip.headers, "Tus-Resumable": "1.0.0"})
    assert head.headers["Upload-Offset"] == str(len(data))  # the client thinks it is done; so is the server
    assert (await svc.uploads.sweep())["completed"] == 1
    upload = await repos_of(svc.db).uploads.find_by_token(location.rsplit("/", 1)[-1])
    assert upload is not None and upload.status == "completed"
    assert await original_bytes(svc, upload.video_id) == data


async def test_stray_bytes_are_removed(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(2000)
    aborted = await create_upload(client, vip, data, total_chunks=2)
    await client.delete(f"/api/uploads/{aborted['id']}", headers=vip.headers)
    aborted_token = (await repos_of(svc.db).uploads.get(aborted["id"])).token
    leftover = svc.settings.uploads_dir / aborted_token  # e.g. the process died before deleting it
    leftover.mkdir()
    (leftover / ("part_000000." + "0" * 64)).write_bytes(b"x" * 1000)
    live = await create_upload(client, vip, data, total_chunks=2)
    live_token = (await repos_of(svc.db).uploads.get(live["id"])).token
    await put_chunk(client, vip, live["id"], 0, data[:1000])
    (svc.settings.uploads_dir / live_token / ".incoming.dead.tmp").write_bytes(b"half a chunk")
    young = svc.settings.uploads_dir / ("Y" * 32)
    old = svc.settings.uploads_dir / ("O" * 32)
    young.mkdir()
    old.mkdir()
    long_ago = time.time() - 3 * 24 * 3600
    os.utime(old, (long_ago, long_ago))

    report = await svc.uploads.sweep()
    assert report["removed_folders"] == 2 and report["removed_temp_files"] == 1
    assert upload_folders(svc) == sorted([live_token, "Y" * 32])
    assert [p.name.split(".")[0] for p in files_under(svc.settings.uploads_dir / live_token)] == ["part_000000"]
    assert (await put_chunk(client, vip, live["id"], 1, data[1000:]))[0] == 200
    assert (await client.post(f"/api/uploads/{live['id']}/complete", headers=vip.headers)).status == 202


def _parts(store: ChunkStore, token: str, data: bytes, size: int) -> list[PartRef]:
    refs = []
    for n, block in enumerate(chunks_of(data, size)):
        digest = sha256(block)
        store.part_path(token, n, digest).write_bytes(block)
        refs.append(PartRef(n, len(block), digest))
    return refs


async def test_assembly_resumes_after_an_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ChunkStore(tmp_path)
    token = "T" * 32
    await store.create_folder(token)
    data = random_bytes(10 * 1000 + 7, seed=33)
    parts = _parts(store, token, data, 1000)
    monkeypatch.setattr(chunkstore, "_FSYNC_EVERY", 1)  # parts leave as soon as an fsync covers them
    real_copy = chunkstore._copy_range
    copies = 0

    def flaky_copy(*args: Any) -> None:
        nonlocal copies
        copies += 1
        if copies == 5:
            raise OSError(errno.EIO, "I/O error")
        real_copy(*args)

    monkeypatch.setattr(chunkstore, "_copy_range", flaky_copy)
    with pytest.raises(OSError, match="I/O error"):
        await store.assemble(token, parts, len(data))
    folder = tmp_path / token
    remaining = sorted(p.name for p in folder.glob("part_*"))
    assert 0 < len(remaining) < len(parts)
    with (folder / "assembled.partial").open("ab") as f:  # a torn append past the last durable part
        f.write(b"garbage")
    final = await store.assemble(token, parts, len(data))
    assert final.read_bytes() == data
    assert list(folder.glob("part_*")) == []
    assert (await store.assemble(token, parts, len(data))).read_bytes() == data  # idempotent


async def test_assembly_refuses_lost_parts(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    token = "L" * 32
    await store.create_folder(token)
    data = random_bytes(3000, seed=34)
    parts = _parts(store, token, data, 1000)
    store.part_path(token, 1, parts[1].sha256).unlink()
    with pytest.raises(AssemblyError, match="missing"):
        await store.assemble(token, parts, len(data))
    with pytest.raises(AssemblyError, match="add up"):
        await store.assemble(token, parts, len(data) + 1)
    assert not (tmp_path / token / "assembled").exists()
