"""Orphaned originals: folders under ``originals/<uuid>/`` that a crash between the storage move and the
database commit left without a ``video_files`` row are deleted once older than the grace period, on local
disk and on S3, at server start and by ``kdrama-tui storage sweep``; referenced and fresh folders stay."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kdrama_tui.config import ConfigError, Settings, load_settings
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from kdrama_tui.services.library.metadata import VideoMetadata
from kdrama_tui.services.maintenance.orphans import OrphanSweeper
from kdrama_tui.storage import Storage
from tests.support.s3 import S3Bucket
from tests.support.serve import ServeProcess, process_env

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def accept(svc: Services, tmp_path: Path, name: str) -> str:
    """A video made the normal way (original + a sidecar subtitle); returns its originals/<uuid>/ prefix."""
    user = await svc.accounts.create_user(f"u_{name}", f"{name}@example.com", "correct horse battery")
    source = write(tmp_path / f"{name}.mkv", os.urandom(3000))
    sub = write(tmp_path / f"{name}.ko.srt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    accepted = await svc.library.accept_original(
        uploader_id=user.id, source=source, original_filename=f"{name}.mkv",
        metadata=VideoMetadata(title=name), sidecars=[SubtitleSidecar(sub, "ko")])
    return accepted.original_key.rsplit("/", 1)[0] + "/"


async def plant(storage: Storage, tmp_path: Path, size: int = 1000) -> str:
    """What a killed hand-off leaves: an original and a subtitle under a fresh uuid, no rows."""
    prefix = f"originals/{uuid.uuid4().hex}/"
    await storage.put_file(prefix + "source.mp4", write(tmp_path / "src", os.urandom(size)), move=True)
    await storage.put_file(prefix + "subtitles/00.srt", write(tmp_path / "sub", b"x" * 10), move=True)
    return prefix


def age_local(storage: Storage, prefix: str, seconds: float) -> None:
    """Make a local folder (its directories and files) look ``seconds`` old."""
    folder = storage.local_path(prefix.rstrip("/"))
    assert folder is not None
    stamp = time.time() - seconds
    for dirpath, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            os.utime(os.path.join(dirpath, name), (stamp, stamp))
        os.utime(dirpath, (stamp, stamp))


def local_folders(svc: Services) -> set[str]:
    root = svc.settings.media_root / "originals"
    return {f"originals/{p.name}/" for p in root.iterdir()} if root.exists() else set()


async def test_local_sweep_removes_only_old_unreferenced_folders(svc: Services, tmp_path: Path) -> None:
    local = svc.storages["local"]
    assert svc.orphans.grace == timedelta(hours=24)  # storage.orphan_grace_hours default
    referenced = await accept(svc, tmp_path, "referenced")
    age_local(local, referenced, 3 * DAY)  # old, but a video points into it
    orphan = await plant(local, tmp_path, size=1234)
    age_local(local, orphan, 2 * DAY)
    fresh = await plant(local, tmp_path)  # a hand-off that may still be committing
    # An ingested file keeps its own (old) mtime when it is renamed in: the folder's mtime says it is new.
    moved_in = f"originals/{uuid.uuid4().hex}/"
    old_file = write(tmp_path / "old.mkv", b"y" * 50)
    os.utime(old_file, (time.time() - 9 * DAY,) * 2)
    await local.put_file(moved_in + "source.mkv", old_file, move=True)
    stray = write(svc.settings.media_root / "originals" / "notes" / "readme.txt", b"not ours")
    os.utime(stray, (time.time() - 9 * DAY,) * 2)
    before = local_folders(svc)

    dry = await svc.orphans.sweep(dry_run=True)
    assert [(f.provider, f.prefix, f.files, f.size) for f in dry.removed] == [("local", orphan, 2, 1244)]
    assert local_folders(svc) == before, "a dry run deletes nothing"

    with svc.events.subscription() as events:
        report = await svc.orphans.sweep_and_publish()
        event = events.get_nowait()
    assert [f.prefix for f in report.removed] == [orphan] and report.bytes == 1244 and not report.failed
    assert sorted(f.prefix for f in report.too_recent) == sorted([fresh, moved_in])
    assert event.type == "storage.orphans_swept" and event.data["folders"] == 1 and event.data["bytes"] == 1244
    assert local_folders(svc) == before - {orphan} and stray.exists()
    for row in await repos_of(svc.db).video_files.list({}, order_by="id"):
        assert await local.exists(row.file_path)

    again = await OrphanSweeper(svc.db, svc.storages, svc.events, grace=timedelta(0)).sweep()
    assert sorted(f.prefix for f in again.removed) == sorted([fresh, moved_in])
    assert local_folders(svc) == {referenced, "originals/notes/"}
    # A pass that finds nothing says so in the log only, not on the dashboard's event stream.
    with svc.events.subscription() as events:
        clean = await svc.orphans.sweep_and_publish()
        assert clean.folders == 0 and events.empty()


async def test_a_row_committed_after_the_listing_keeps_its_folder(svc: Services, tmp_path: Path) -> None:
    """The database is asked again right before each delete: a hand-off that commits late wins."""
    local = svc.storages["local"]
    late = await plant(local, tmp_path)
    sweeper = OrphanSweeper(svc.db, svc.storages, svc.events, grace=timedelta(0))
    user = await svc.accounts.create_user("late", "late@example.com", "correct horse battery")
    real_consider = sweeper._consider

    async def commit_then_consider(storage: Storage, prefix: str, *args: object) -> None:
        # The hand-off's rows land after the sweep asked which folders are referenced, before the delete.
        video = await repos_of(svc.db).videos.create({"title": "Late", "original_filename": "late.mp4",
                                                  "uploader_user_id": user.id, "status": "processing"})
        await repos_of(svc.db).video_files.create({
            "video_id": video.id, "file_type": "original", "storage_provider": "local",
            "file_path": late + "source.mp4", "file_size": 1000, "checksum": "0" * 64, "mime_type": "video/mp4"})
        await real_consider(storage, prefix, *args)  # type: ignore[arg-type]

    sweeper._consider = commit_then_consider  # type: ignore[method-assign]
    report = await sweeper.sweep()
    assert report.removed == [] and await local.exists(late + "source.mp4")


async def test_s3_sweep_removes_only_old_unreferenced_folders(settings: Settings, s3_bucket: S3Bucket,
                                                              tmp_path: Path) -> None:
    settings.security.bcrypt_rounds = 4
    s3_bucket.configure(settings, provider="s3")
    svc = await build_services(settings)
    try:
        s3 = svc.storages["s3"]
        referenced = await accept(svc, tmp_path, "on_s3")
        assert await s3.exists(referenced + "subtitles/00.srt")
        orphan = await plant(s3, tmp_path, size=2000)
        local_orphan = await plant(svc.storages["local"], tmp_path, size=500)  # every configured storage
        age_local(svc.storages["local"], local_orphan, 2 * DAY)
        s3_bucket.put("originals/not-a-uuid/x.bin", b"kept")
        old_written = utcnow()
        await asyncio.sleep(3.5)  # S3 dates objects itself, to the second: let the first ones age
        fresh = await plant(s3, tmp_path)
        # The cutoff sits 1 s after the old objects were written, and >= 1.5 s before the fresh one's date
        # (even truncated to the second), however slowly the machine runs the rest of the test.
        cutoff = old_written + timedelta(seconds=1)
        sweeper = OrphanSweeper(svc.db, svc.storages, svc.events, grace=timedelta(seconds=2))
        all_keys = set(s3_bucket.keys())

        dry = await sweeper.sweep(dry_run=True, grace=utcnow() - cutoff)
        assert sorted((f.provider, f.prefix, f.size) for f in dry.removed) == [
            ("local", local_orphan, 510), ("s3", orphan, 2010)]
        assert set(s3_bucket.keys()) == all_keys

        report = await sweeper.sweep(grace=utcnow() - cutoff)
        assert sorted((f.provider, f.prefix) for f in report.removed) == [("local", local_orphan), ("s3", orphan)]
        assert [(f.provider, f.prefix) for f in report.too_recent] == [("s3", fresh)]
        assert set(s3_bucket.keys()) == all_keys - {orphan + "source.mp4", orphan + "subtitles/00.srt"}
        assert local_folders(svc) == set()
        assert set(s3_bucket.keys(referenced)) == {
            r.file_path for r in await repos_of(svc.db).video_files.list({}, order_by="id")}
    finally:
        await svc.close()


async def test_a_library_that_looks_like_another_databases_is_never_swept(
        settings: Settings, tmp_path: Path) -> None:
    """The storage of a real library, opened with a fresh database (a wrong database.url, PostgreSQL before the
    data moved): the automatic sweep and the CLI delete nothing and say why; only --force deletes."""
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        library = [await accept(svc, tmp_path, f"show{n}") for n in range(5)]
        for prefix in library:
            age_local(svc.storages["local"], prefix, 9 * DAY)
        # The same storage with a different, empty database:
        await svc.db.execute("DELETE FROM video_files")
        with svc.events.subscription() as events:
            report = await svc.orphans.sweep_and_publish()
            event = events.get_nowait()
        assert report.folders == 0 and report.refused and "database.url" in report.refused
        assert event.type == "storage.orphans_swept" and event.data["refused"] == report.refused
        assert local_folders(svc) == set(library)
    finally:
        await svc.close()
    refused = cli(settings, "storage", "sweep", "--grace-hours", "0")
    assert refused.returncode == 1 and "deleted nothing" in refused.stderr and "--force" in refused.stderr
    forced = cli(settings, "storage", "sweep", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "removed 5 orphaned folder(s)" in forced.stdout


async def test_many_unreferenced_folders_beside_referenced_ones_are_not_swept(svc: Services, tmp_path: Path) -> None:
    """An older backup restored over a newer library: most folders unreferenced -> nothing deleted."""
    local = svc.storages["local"]
    kept = await accept(svc, tmp_path, "old")
    newer = [await plant(local, tmp_path) for _ in range(4)]
    for prefix in [kept, *newer]:
        age_local(local, prefix, 9 * DAY)
    report = await svc.orphans.sweep()
    assert report.refused and "4 of 5" in report.refused and report.folders == 0
    assert local_folders(svc) == {kept, *newer}
    # A few crash leftovers in a bigger library are what the sweep is for.
    more = [await accept(svc, tmp_path, f"more{n}") for n in range(40)]
    report = await svc.orphans.sweep()
    assert report.refused is None and sorted(f.prefix for f in report.removed) == sorted(newer)
    assert local_folders(svc) == {kept, *more}


def test_grace_is_a_validated_setting(tmp_path: Path) -> None:
    env = {"KDRAMA_DATA_DIR": str(tmp_path)}
    assert load_settings(env=env).storage.orphan_grace_hours == 24.0
    assert load_settings(env={**env, "KDRAMA_STORAGE_ORPHAN_GRACE_HOURS": "1.5"}).storage.orphan_grace_hours == 1.5
    for bad in ("-1", "0", "0.5", "soon", "9000"):
        with pytest.raises(ConfigError, match=r"storage\.orphan_grace_hours"):
            load_settings(env={**env, "KDRAMA_STORAGE_ORPHAN_GRACE_HOURS": bad})


# ---- real processes ------------------------------------------------------------------------------------

def cli(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdrama_tui", *args], env=process_env(settings, **extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(settings, tmp_path / "server.log")
    try:
        yield process
    finally:
        process.kill()


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_server_start_sweeps_old_orphans(settings: Settings, server: ServeProcess, tmp_path: Path) -> None:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        referenced = await accept(svc, tmp_path, "kept")
        orphan = await plant(svc.storage, tmp_path, size=4321)
        for prefix in (referenced, orphan):
            age_local(svc.storage, prefix, 2 * DAY)
    finally:
        await svc.close()
    await server.start()

    async def gone() -> bool:
        return not (settings.media_root / orphan).exists()

    await until(gone, "the start-up sweep to remove the orphan")
    await until(lambda: "orphan sweep: removed 1 folder(s), 4331 bytes" in server.log.read_text(),
                "the sweep's log line")
    server.stop()
    assert (settings.media_root / referenced / "subtitles" / "00.srt").exists()


async def test_sigkill_between_move_and_commit_then_sweep(settings: Settings, server: ServeProcess,
                                                          tmp_path: Path) -> None:
    source = write(tmp_path / "episode.mkv", os.urandom(3 * 1024 * 1024 + 17))
    source_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    crashing = subprocess.Popen([sys.executable, "-m", "tests.services.maintenance.crash_handoff", str(source)],
                                env=process_env(settings), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        assert crashing.stdout is not None
        for line in crashing.stdout:
            lines.append(line.strip())
            if line.startswith("MOVED "):
                break
        else:
            raise AssertionError(f"the hand-off never reached storage: {lines} {crashing.stderr.read()}")
        os.kill(crashing.pid, signal.SIGKILL)  # stored, not committed
        crashing.wait(timeout=10)
    finally:
        if crashing.poll() is None:
            crashing.kill()
            crashing.wait(timeout=10)
    leftover = lines[-1].split()[1].rsplit("/", 1)[0] + "/"
    upload_id = int(next(line.split()[1] for line in lines if line.startswith("UPLOAD ")))
    assert "COMMITTED" not in lines

    svc = await build_services(settings)
    try:
        assert local_folders(svc) == {leftover}
        assert await repos_of(svc.db).video_files.count() == 0 and await repos_of(svc.db).videos.count() == 0
        assert (await repos_of(svc.db).uploads.get(upload_id)).status == "assembling"
    finally:
        await svc.close()

    # The restarted server finishes the upload (a new hand-off); the leftover is fresh, so it stays.
    await server.start()

    async def completed() -> bool:
        check = await build_services(settings)
        try:
            return (await repos_of(check.db).uploads.get(upload_id)).status == "completed"
        finally:
            await check.close()

    await until(completed, "the restarted server to finish the upload")
    await until(lambda: "orphan sweep: removed 0 folder(s)" in server.log.read_text(), "the start-up sweep")
    server.stop()
    assert (settings.media_root / leftover).exists(), "within the grace period the leftover is kept"

    dry = cli(settings, "storage", "sweep", "--dry-run", "--grace-hours", "0")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove local {leftover} (1 files, {source.stat().st_size} bytes" in dry.stdout
    assert (settings.media_root / leftover).exists()

    swept = cli(settings, "storage", "sweep", "--grace-hours", "0")
    assert swept.returncode == 0, swept.stderr
    assert f"removed local {leftover}" in swept.stdout and "removed 1 orphaned folder(s)" in swept.stdout

    svc = await build_services(settings)
    try:
        upload = await repos_of(svc.db).uploads.get(upload_id)
        assert upload.video_id is not None and await repos_of(svc.db).videos.count() == 1
        originals = await repos_of(svc.db).video_files.find_by_video(upload.video_id, "original")
        assert len(originals) == 1 and originals[0].checksum == source_sha
        assert local_folders(svc) == {originals[0].file_path.rsplit("/", 1)[0] + "/"}
        path = svc.storage.local_path(originals[0].file_path)
        assert path is not None and hashlib.sha256(path.read_bytes()).hexdigest() == source_sha
    finally:
        await svc.close()
    again = cli(settings, "storage", "sweep", "--grace-hours", "0")
    assert again.returncode == 0 and "removed 0 orphaned folder(s)" in again.stdout



async def test_referenced_paths_are_paged_and_matched_literally(svc: Services) -> None:
    user = await svc.accounts.create_user("pager", "pager@example.com", "correct horse battery")
    video = await repos_of(svc.db).videos.create({"title": "Paged", "original_filename": "p.mp4",
                                              "uploader_user_id": user.id, "status": "processing"})
    paths = [f"originals/{i:032x}/source.mp4" for i in range(5)] + ["originals/a_b/x", "originals/aXb/x",
                                                                     "videos/1/hls/master.m3u8"]
    for path in paths:
        await repos_of(svc.db).video_files.create({"video_id": video.id, "file_type": "original", "file_path": path,
                                               "storage_provider": "local", "file_size": 1, "checksum": "0" * 64,
                                               "mime_type": "video/mp4"})
    repo = repos_of(svc.db).video_files
    assert [p async for p in repo.paths_starting("originals/", page_size=2)] == paths[:7]
    assert [p async for p in repo.paths_starting("originals/a_b/", page_size=2)] == ["originals/a_b/x"]
    assert await repo.any_under("originals/a_b/") and not await repo.any_under("originals/a%/")
    assert not await repo.any_under("originals/ffff/")
