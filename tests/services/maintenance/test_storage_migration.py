"""`storage migrate`: local <-> S3 with checksums verified, interruptions resumed, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.maintenance.storage_migration import StorageMigration
from kdrama_tui.storage import Storage
from kdrama_tui.storage.base import StorageError, StoredObject
from tests.support.s3 import S3Bucket

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def svc(settings: Settings, s3_bucket: S3Bucket) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    s3_bucket.configure(settings, provider="s3")
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


async def make_library(svc: Services, storage: Storage, videos: int = 3, segments: int = 4,
                       size: int = 50_000) -> dict[int, bytes]:
    """Videos with an original and HLS files stored on ``storage``; returns row id -> content."""
    user = await repos_of(svc.db).users.create({"username": f"u{os.urandom(3).hex()}", "password_hash": "x",
                                            "email": f"{os.urandom(3).hex()}@example.com"})
    contents: dict[int, bytes] = {}
    for v in range(videos):
        video = await repos_of(svc.db).videos.create({"title": f"Drama {v}", "uploader_user_id": user.id,
                                                  "status": "ready"})
        files = [("original", f"originals/{os.urandom(8).hex()}/source.mkv", os.urandom(size * 3))]
        files.append(("master_playlist", f"videos/{video.id}/hls/master.m3u8", b"#EXTM3U\n"))
        files += [("transcoded_360p", f"videos/{video.id}/hls/360p/seg_{i:05d}.m4s", os.urandom(size))
                  for i in range(1, segments + 1)]
        for file_type, key, data in files:
            stored = await storage.put_stream(key, _one(data))
            row = await repos_of(svc.db).video_files.create({
                "video_id": video.id, "file_type": file_type, "storage_provider": storage.provider,
                "file_path": key, "file_size": stored.size, "checksum": stored.sha256})
            contents[row.id] = data
    return contents


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def assert_all_on(svc: Services, provider: str, contents: dict[int, bytes], bucket: S3Bucket) -> None:
    rows = await repos_of(svc.db).video_files.list()
    assert {r.id for r in rows} == set(contents)
    assert {r.storage_provider for r in rows} == {provider}
    local_keys = set(await svc.storage_for("local").list())
    s3_keys = set(bucket.keys())
    paths = {r.file_path for r in rows}
    if provider == "s3":
        assert s3_keys == paths and local_keys == set()  # moved, and no copy left behind
        for r in rows:
            assert hashlib.sha256(bucket.get(r.file_path)).hexdigest() == r.checksum
    else:
        assert local_keys == paths and s3_keys == set()
    for r in rows:  # readable through the provider the row names, byte for byte
        got = b"".join([c async for c in svc.storage_for(r.storage_provider).read(r.file_path)])
        assert got == contents[r.id]
    assert bucket.multipart_uploads() == []


def _migration(svc: Services, **kw: Any) -> StorageMigration:
    return StorageMigration(svc.db, svc.events, svc.storage_for, state_file=svc.settings.data_dir / "mig.json",
                            known_providers=svc.storages.keys(), **kw)


async def test_mixed_library_reads_from_both_providers(svc: Services, s3_bucket: S3Bucket) -> None:
    assert svc.storage.provider == "s3" and set(svc.storages) == {"local", "s3"}
    old = await make_library(svc, svc.storage_for("local"), videos=1, segments=1)
    new = await make_library(svc, svc.storage, videos=1, segments=1)
    for row in await repos_of(svc.db).video_files.list():
        data = b"".join([c async for c in svc.storage_for(row.storage_provider).read(row.file_path)])
        assert data == {**old, **new}[row.id]
    # Another S3 preset is built on demand from the same [storage] credentials (rows left after a switch).
    assert svc.storage_for("wasabi").provider == "wasabi"


async def test_an_unconfigured_provider_is_a_clear_error(settings: Settings) -> None:
    services = await build_services(settings)
    try:
        with pytest.raises(StorageError) as info:
            services.storage_for("idrive")
        assert info.value.code == "storage_not_configured" and "storage.bucket" in info.value.message
    finally:
        await services.close()


async def test_migrate_local_to_s3_and_back(svc: Services, s3_bucket: S3Bucket) -> None:
    contents = await make_library(svc, svc.storage_for("local"))
    with svc.events.subscription() as queue:
        report = await _migration(svc).run("s3")
        events = [queue.get_nowait().type for _ in range(queue.qsize())]
    assert report.ok and report.copied == len(contents) == report.switched == report.total
    assert report.sources_deleted == len(contents)
    assert events[0] == "storage_migration.started" and events[-1] == "storage_migration.finished"
    assert "storage_migration.progress" in events
    await assert_all_on(svc, "s3", contents, s3_bucket)
    assert not (svc.settings.data_dir / "mig.json").exists()

    report = await _migration(svc).run("local")
    assert report.ok and report.copied == len(contents) and report.sources_deleted == len(contents)
    await assert_all_on(svc, "local", contents, s3_bucket)

    again = await _migration(svc).run("local")  # nothing left to do
    assert again.total == 0 and again.copied == 0


async def test_a_damaged_source_is_not_moved(svc: Services, s3_bucket: S3Bucket) -> None:
    local = svc.storage_for("local")
    contents = await make_library(svc, local, videos=2, segments=2)
    victim = (await repos_of(svc.db).video_files.list())[2]
    path = local.local_path(victim.file_path)
    assert path is not None
    good = path.read_bytes()
    path.write_bytes(b"X" + good[1:])  # bit rot

    report = await _migration(svc).run("s3")
    assert [(i, k) for i, k, _why in report.failed] == [(victim.id, victim.file_path)]
    assert "damaged" in report.failed[0][2]
    row = await repos_of(svc.db).video_files.get(victim.id)
    assert row.storage_provider == "local" and path.exists()  # stays where it was, untouched
    assert victim.file_path not in set(s3_bucket.keys())

    path.write_bytes(good)  # repaired from elsewhere
    report = await _migration(svc).run("s3")
    assert report.ok and report.copied == 1
    await assert_all_on(svc, "s3", contents, s3_bucket)


class Crash(BaseException):
    """Stands for SIGKILL at a chosen point (BaseException: nothing on the way catches it)."""


class CrashingStorage(Storage):
    """Wraps a provider and 'dies' on the n-th call of one method."""

    def __init__(self, inner: Storage, method: str, after: int) -> None:
        self.inner, self.method, self.after, self.calls = inner, method, after, 0
        self.provider = inner.provider

    def _tick(self, method: str) -> None:
        if method == self.method:
            self.calls += 1
            if self.calls > self.after:
                raise Crash(method)

    async def put_file(self, key: str, source: Path, *, move: bool = False) -> StoredObject:
        return await self.inner.put_file(key, source, move=move)

    async def put_stream(self, key: str, chunks: Any) -> StoredObject:
        stored = await self.inner.put_stream(key, chunks)
        self._tick("put_stream")  # the copy is complete but nothing was verified or switched yet
        return stored

    def read(self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Any:
        return self.inner.read(key, start, end, chunk_size)

    async def get_to_file(self, key: str, destination: Path) -> None:
        await self.inner.get_to_file(key, destination)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def delete_many(self, keys: list[str]) -> None:
        self._tick("delete_many")  # rows switched, sources not yet deleted
        await self.inner.delete_many(keys)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def size(self, key: str) -> int:
        return await self.inner.size(key)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)


@pytest.mark.parametrize(("target", "method", "after"), [
    ("s3", "put_stream", 4),  # killed between a copy and its verification/switch
    ("local", "put_stream", 7),
    ("s3", "delete_many", 0),  # killed after every switch, before the sources were deleted
    ("local", "delete_many", 0),
])
async def test_an_interrupted_migration_resumes(svc: Services, s3_bucket: S3Bucket, target: str, method: str,
                                               after: int) -> None:
    source = "local" if target == "s3" else "s3"
    contents = await make_library(svc, svc.storage_for(source))
    real = dict(svc.storages)
    wrapped = CrashingStorage(real[target] if method == "put_stream" else real[source], method, after)

    def crashing_storage_for(provider: str) -> Storage:
        return wrapped if provider == wrapped.provider else svc.storage_for(provider)

    migration = StorageMigration(svc.db, svc.events, crashing_storage_for, state_file=svc.settings.data_dir / "m.json",
                                 known_providers=real.keys(), concurrency=1)
    with pytest.raises(Crash):
        await migration.run(target)
    rows = await repos_of(svc.db).video_files.list()
    on_target = [r for r in rows if r.storage_provider == target]
    if method == "put_stream":
        assert len(on_target) == after  # the crashed file's copy exists on the target but its row was not switched
    else:
        assert len(on_target) == len(rows)
    # Every row still points at a complete copy.
    for r in rows:
        got = b"".join([c async for c in svc.storage_for(r.storage_provider).read(r.file_path)])
        assert got == contents[r.id]

    report = await StorageMigration(svc.db, svc.events, svc.storage_for, state_file=svc.settings.data_dir / "m.json",
                                    known_providers=real.keys()).run(target)
    assert report.ok
    await assert_all_on(svc, target, contents, s3_bucket)


async def test_a_resumed_run_reuses_a_verified_copy(svc: Services, s3_bucket: S3Bucket) -> None:
    contents = await make_library(svc, svc.storage_for("local"), videos=1, segments=2)
    wrapped = CrashingStorage(svc.storage_for("s3"), "put_stream", 1)
    migration = StorageMigration(svc.db, svc.events, lambda p: wrapped if p == "s3" else svc.storage_for(p),
                                 state_file=svc.settings.data_dir / "m.json", known_providers=svc.storages.keys(),
                                 concurrency=1)
    with pytest.raises(Crash):
        await migration.run("s3")
    assert len(s3_bucket.keys()) == 2  # one switched, one copied but not switched
    report = await StorageMigration(svc.db, svc.events, svc.storage_for, state_file=svc.settings.data_dir / "m.json",
                                    known_providers=svc.storages.keys()).run("s3")
    assert report.ok and report.reused == 1 and report.copied == len(contents) - 2
    await assert_all_on(svc, "s3", contents, s3_bucket)


def _cli(settings: Settings, bucket: S3Bucket, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir),
           "KDRAMA_DATABASE_URL": settings.database_url, **bucket.env("s3")}
    return subprocess.Popen([sys.executable, "-m", "kdrama_tui", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def _count_on(db: Database, provider: str) -> int:
    return await repos_of(db).video_files.count({"storage_provider": provider})


async def test_cli_migration_killed_and_resumed(svc: Services, s3_bucket: S3Bucket) -> None:
    contents = await make_library(svc, svc.storage_for("local"), videos=6, segments=10, size=20_000)
    total = len(contents)
    process = _cli(svc.settings, s3_bucket, "storage", "migrate", "--to", "s3", "--concurrency", "1")
    try:
        deadline = time.monotonic() + 60
        while await _count_on(svc.db, "s3") < 5:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the migration made no progress"
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    moved = await _count_on(svc.db, "s3")
    assert 5 <= moved < total  # really interrupted half-way

    process = _cli(svc.settings, s3_bucket, "storage", "migrate", "--to", "s3")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"{total - moved}" in out
    await assert_all_on(svc, "s3", contents, s3_bucket)

    process = _cli(svc.settings, s3_bucket, "storage", "migrate", "--to", "local")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    await assert_all_on(svc, "local", contents, s3_bucket)


async def test_cli_reports_a_missing_bucket_in_one_line(svc: Services, s3_bucket: S3Bucket) -> None:
    s3_bucket.name = "no-such-bucket"
    process = _cli(svc.settings, s3_bucket, "storage", "migrate", "--to", "s3")
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.strip().count("\n") == 0 and "no-such-bucket" in err and "does not exist" in err
