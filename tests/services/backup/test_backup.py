"""Backups and restores on SQLite and PostgreSQL: consistency under writes, round trips, refusals."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.db import open_database
from kdrama_tui.db.connect import sqlite_path
from kdrama_tui.errors import Conflict
from kdrama_tui.events import EventBus
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.backup.crypto import BackupDecryptError, WrongBackupKey
from kdrama_tui.services.backup.database_dump import BackupError
from kdrama_tui.services.backup.server_lock import hold_server_lock
from kdrama_tui.services.backup.service import BackupService
from kdrama_tui.storage.base import StorageBucketMissing
from tests.services.backup.support import content, fill, write_master_key
from tests.support.postgres import PostgresCluster
from tests.support.s3 import S3Bucket

KEY = "a long enough backup passphrase"


@pytest.fixture
async def filled(settings: Settings) -> Settings:
    db = await open_database(settings.database_url)
    try:
        await fill(db)
    finally:
        await db.close()
    return settings


def _service(settings: Settings, events: EventBus | None = None) -> BackupService:
    return BackupService(settings, events or EventBus())


def _members(tar_path: Path) -> dict[str, bytes]:
    with tarfile.open(tar_path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _use_cloud(settings: Settings, bucket: S3Bucket) -> None:
    """Cloud backups to ``bucket`` on the moto endpoint while media stays local."""
    s = settings.storage
    s.endpoint_url, s.region = bucket.server.endpoint_url, bucket.server.region
    s.access_key, s.secret_key = bucket.server.access_key, bucket.server.secret_key
    settings.backup.cloud_bucket = bucket.name
    settings.backup.encryption_key = KEY


async def _live_fingerprint(settings: Settings) -> Any:
    """What must not change when a restore is refused: the content, and for SQLite the files' bytes."""
    data = await content(settings.database_url)
    if settings.database_url.startswith("sqlite"):
        path = sqlite_path(settings.database_url)
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in path.parent.iterdir() if p.name.startswith(path.name)}
        return data, files
    return data, None


# -- consistency under writes ----------------------------------------------------------------------------

LEDGER = ("CREATE TABLE ledger (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, n INTEGER NOT NULL, "
          "pad TEXT NOT NULL)")
LEDGER_PG = ("CREATE TABLE ledger (id SERIAL PRIMARY KEY, writer INTEGER NOT NULL, n INTEGER NOT NULL, "
             "pad TEXT NOT NULL)")
TOTALS = "CREATE TABLE totals (writer INTEGER PRIMARY KEY, count INTEGER NOT NULL)"


def _sqlite_writer(path: Path, writer: int, stop: threading.Event, counts: list[int]) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    try:
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO ledger (writer, n, pad) VALUES (?, ?, ?)", (writer, n, "x" * 200))
            conn.execute("UPDATE totals SET count = count + 1 WHERE writer = ?", (writer,))
            conn.execute("COMMIT")
            counts[writer] = n
    finally:
        conn.close()


async def _pg_writer(url: str, writer: int, stop: asyncio.Event, counts: list[int]) -> None:
    conn = await asyncpg.connect(url)
    try:
        n = 0
        while not stop.is_set():
            n += 1
            async with conn.transaction():
                await conn.execute("INSERT INTO ledger (writer, n, pad) VALUES ($1, $2, $3)", writer, n, "x" * 200)
                await conn.execute("UPDATE totals SET count = count + 1 WHERE writer = $1", writer)
            counts[writer] = n
    finally:
        await conn.close()


def _check_ledger(rows_ledger: int, totals: list[int], per_writer: dict[int, int]) -> None:
    # One snapshot: every committed transaction is in it whole or not at all.
    assert rows_ledger == sum(totals)
    assert all(per_writer[w] == t for w, t in enumerate(totals))


async def test_backup_under_four_writers_is_one_consistent_snapshot(
        filled: Settings, backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings = filled
    url = settings.database_url
    db = await open_database(url)
    try:
        await db.execute_script((LEDGER if backend == "sqlite" else LEDGER_PG) + ";\n" + TOTALS + ";")
        for w in range(4):
            await db.execute("INSERT INTO totals (writer, count) VALUES (:w, 0)", {"w": w})
    finally:
        await db.close()

    counts = [0, 0, 0, 0]
    events = EventBus()
    service = _service(settings, events)
    if backend == "sqlite":
        stop = threading.Event()
        threads = [threading.Thread(target=_sqlite_writer, args=(sqlite_path(url), w, stop, counts))
                   for w in range(4)]
        for t in threads:
            t.start()
        try:
            await asyncio.sleep(1.0)
            before = sum(counts)
            first = await service.run_backup()
            await asyncio.sleep(1.0)
            second = await service.run_backup()
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
    else:
        stop_pg = asyncio.Event()
        tasks = [asyncio.create_task(_pg_writer(url, w, stop_pg, counts)) for w in range(4)]
        try:
            await asyncio.sleep(1.0)
            before = sum(counts)
            first = await service.run_backup()
            await asyncio.sleep(1.0)
            second = await service.run_backup()
            await asyncio.sleep(1.0)
        finally:
            stop_pg.set()
            await asyncio.gather(*tasks)
    assert before > 0 and sum(counts) > before  # the writers really ran before, during and after

    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster") if backend != "sqlite" else None
    seen = []
    for result in (first, second):
        members = _members(settings.backup_dir / result.local.name)
        manifest = json.loads(members["manifest.json"])
        assert manifest["dialect"] == backend
        if backend == "sqlite":
            copy = tmp_path / f"{result.local.name}.db"
            copy.write_bytes(members["database.sqlite"])
            conn = sqlite3.connect(copy)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                ledger = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
                totals = [r[0] for r in conn.execute("SELECT count FROM totals ORDER BY writer")]
                per_writer = dict(conn.execute("SELECT writer, COUNT(*) FROM ledger GROUP BY writer").fetchall())
            finally:
                conn.close()
        else:
            assert cluster is not None
            dump = tmp_path / f"{result.local.name}.pgdump"
            dump.write_bytes(members["database.pgdump"])
            target = await cluster.create_database(f"check_{result.local.name[-10:-4].lower()}_{len(seen)}")
            subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(dump)], check=True,
                           capture_output=True)
            conn_pg = await asyncpg.connect(target)
            try:
                ledger = await conn_pg.fetchval("SELECT COUNT(*) FROM ledger")
                totals = [r[0] for r in await conn_pg.fetch("SELECT count FROM totals ORDER BY writer")]
                per_writer = {r[0]: r[1] for r in await conn_pg.fetch(
                    "SELECT writer, COUNT(*) FROM ledger GROUP BY writer")}
            finally:
                await conn_pg.close()
        per_writer = {w: per_writer.get(w, 0) for w in range(4)}
        _check_ledger(ledger, totals, per_writer)
        seen.append(ledger)
    assert 0 < seen[0] < seen[1] < sum(counts)  # two snapshots taken while the writes went on
    types = [e.type for e in events.recent(100)]
    assert types.count("backup.started") == 2 and types.count("backup.finished") == 2
    assert "backup.progress" in types and "backup.failed" not in types


# -- restore round trips ---------------------------------------------------------------------------------

async def test_local_restore_round_trip(filled: Settings) -> None:
    settings = filled
    settings.backup.encryption_key = KEY
    key = write_master_key(settings)
    service = _service(settings)
    at_backup = await content(settings.database_url)
    result = await service.run_backup()
    assert result.local.name.endswith(".tar") and not result.local.encrypted
    members = _members(settings.backup_dir / result.local.name)
    assert members["master.key"] == key
    config = json.loads(members["config.json"])
    assert config["settings"]["backup"]["encryption_key"] == "***"  # secrets never go into a backup
    assert KEY.encode() not in members["config.json"]
    assert config["settings"]["storage"]["provider"] == "local"
    assert (settings.backup_dir / result.local.name).stat().st_mode & 0o077 == 0  # it holds the master key

    db = await open_database(settings.database_url)
    try:  # life goes on after the backup
        await fill(db, users=1, videos=1)
        first_video = (await repos_of(db).videos.list())[0]
        await repos_of(db).videos.delete(first_video.id)
    finally:
        await db.close()
    changed = await content(settings.database_url)
    assert changed != at_backup
    write_master_key(settings, b"k" * 32)  # the key was rotated (or lost) meanwhile

    restored = await service.restore(result.local.name)
    assert await content(settings.database_url) == at_backup
    assert settings.master_key_path.read_bytes() == key and restored.master_key_restored
    assert any(p.name.startswith("master.key.pre-restore-") for p in settings.master_key_path.parent.iterdir())
    # The replaced database was kept, and restoring it brings the later changes back.
    assert restored.previous_copy and restored.previous_copy.startswith("kdrama-prerestore-")
    kinds = {b.name: b.kind for b in await service.list_backups()}
    assert kinds[restored.previous_copy] == "prerestore" and kinds[result.local.name] == "backup"
    await service.restore(restored.previous_copy)
    assert await content(settings.database_url) == changed

    db = await open_database(settings.database_url)  # the app opens it (quick_check, migrations) fine
    await db.close()


async def test_cloud_backup_is_encrypted_and_restores(filled: Settings, s3_bucket: S3Bucket) -> None:
    settings = filled
    _use_cloud(settings, s3_bucket)
    key = write_master_key(settings)
    service = _service(settings)
    at_backup = await content(settings.database_url)
    result = await service.run_backup(cloud=True)
    assert result.cloud is not None and result.cloud.name == result.local.name + ".gz.enc"
    assert s3_bucket.keys() == [result.cloud.name]
    blob = s3_bucket.get(result.cloud.name)
    assert blob.startswith(b"KDBKENC1")
    assert b"SQLite format 3" not in blob and key not in blob and KEY.encode() not in blob
    assert b"manifest" not in blob and b"PGDMP" not in blob
    assert s3_bucket.multipart_uploads() == []
    listed = await service.list_backups()
    assert {(b.name, b.location) for b in listed} == {(result.local.name, "local"), (result.cloud.name, "cloud")}

    db = await open_database(settings.database_url)
    try:
        await fill(db, users=1, videos=1)
    finally:
        await db.close()
    (settings.backup_dir / result.local.name).unlink()  # the machine lost its local copies
    await service.restore(result.cloud.name)  # fetched from the bucket by name
    assert await content(settings.database_url) == at_backup


async def test_damaged_truncated_or_wrong_key_backups_are_refused(filled: Settings, s3_bucket: S3Bucket,
                                                                  tmp_path: Path) -> None:
    settings = filled
    _use_cloud(settings, s3_bucket)
    service = _service(settings)
    result = await service.run_backup(cloud=True)
    assert result.cloud is not None
    good = s3_bucket.get(result.cloud.name)
    db = await open_database(settings.database_url)
    try:
        await fill(db, users=1, videos=1)  # the live database now differs from the backup
    finally:
        await db.close()
    before = await _live_fingerprint(settings)

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    cases = {
        "flipped.enc": (bytes(flipped), KEY, BackupDecryptError, "tampered"),
        "truncated.enc": (good[:-100], KEY, BackupDecryptError, "truncated"),
        "cut-at-frame.enc": (good[:len(good) - 1], KEY, BackupDecryptError, "truncated"),
        "wrongkey.enc": (good, "an entirely different passphrase", WrongBackupKey, "encryption_key"),
    }
    for name, (data, key, error, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        settings.backup.encryption_key = key
        with pytest.raises(error) as info:
            await service.restore(str(tmp_path / name))
        assert words in info.value.message, name
        assert await _live_fingerprint(settings) == before, name
        assert not [p for p in settings.backup_dir.iterdir() if p.name.startswith(("kdrama-prerestore", ".restore"))]
    settings.backup.encryption_key = KEY

    # A plain archive whose database was altered after the backup: the manifest checksum catches it.
    members = _members(settings.backup_dir / result.local.name)
    database = "database.sqlite" if "database.sqlite" in members else "database.pgdump"
    altered = bytearray(members[database])
    altered[len(altered) // 3] ^= 0x01
    bad_tar = tmp_path / "altered.tar"
    with tarfile.open(bad_tar, "w") as tar:
        for name, data in {**members, database: bytes(altered)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="checksum"):
        await service.restore(str(bad_tar))
    # An archive with an unexpected entry (e.g. a path that climbs out) is refused before extraction.
    evil_tar = tmp_path / "evil.tar"
    with tarfile.open(evil_tar, "w") as tar:
        info = tarfile.TarInfo("../../kdrama.db")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(BackupError, match="unexpected entry"):
        await service.restore(str(evil_tar))
    assert not (settings.backup_dir / "kdrama.db").exists()
    assert await _live_fingerprint(settings) == before


async def test_a_failed_cloud_upload_leaves_earlier_backups_intact(filled: Settings, s3_bucket: S3Bucket) -> None:
    settings = filled
    service = _service(settings)
    earlier = await service.run_backup()
    earlier_bytes = (settings.backup_dir / earlier.local.name).read_bytes()
    _use_cloud(settings, s3_bucket)
    settings.backup.cloud_bucket = "no-such-backup-bucket"
    events = EventBus()
    with pytest.raises(StorageBucketMissing):
        await _service(settings, events).run_backup(cloud=True)
    failed = [e for e in events.recent(50) if e.type == "backup.failed"]
    assert len(failed) == 1 and failed[0].data["stage"] == "cloud upload"
    assert "no-such-backup-bucket" in failed[0].data["error"]
    assert (settings.backup_dir / earlier.local.name).read_bytes() == earlier_bytes
    leftovers = [p.name for p in settings.backup_dir.iterdir() if p.name.startswith(".") and
                 p.name not in (".backup.lock", ".schedule.json")]
    assert leftovers == []


async def test_cloud_backup_needs_a_key(filled: Settings, s3_bucket: S3Bucket) -> None:
    settings = filled
    _use_cloud(settings, s3_bucket)
    settings.backup.encryption_key = ""
    with pytest.raises(Exception, match="encryption_key is not set"):
        await _service(settings).run_backup(cloud=True)
    assert list(settings.backup_dir.glob("kdrama-backup-*")) == []  # refused before any work
    assert s3_bucket.keys() == []


async def test_restore_refuses_while_a_server_holds_the_data_folder(filled: Settings) -> None:
    settings = filled
    service = _service(settings)
    result = await service.run_backup()
    db = await open_database(settings.database_url)
    try:
        await fill(db, users=1, videos=1)
    finally:
        await db.close()
    before = await _live_fingerprint(settings)
    with hold_server_lock(settings) as lock:
        assert lock.held
        with pytest.raises(Conflict) as info:
            await service.restore(result.local.name)
        assert info.value.code == "server_running" and "--force" in info.value.message
        assert await _live_fingerprint(settings) == before
    await service.restore(result.local.name)  # the server stopped: now it works
    assert await _live_fingerprint(settings) != before


# -- SQLite specifics --------------------------------------------------------------------------------------

@pytest.fixture
async def sqlite_settings(tmp_path: Path) -> Settings:
    from kdrama_tui.config import load_settings

    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data")})
    db = await open_database(settings.database_url)
    try:
        await fill(db)
    finally:
        await db.close()
    return settings


_STALE_WAL_WRITER = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint = 0")
for i in range(50):
    conn.execute("INSERT INTO comments (video_id, content) VALUES (1, 'after the backup')")
os._exit(0)  # like a crash: the WAL is left with frames that were never checkpointed
"""


async def test_a_stale_wal_is_not_replayed_onto_the_restored_database(sqlite_settings: Settings) -> None:
    settings = sqlite_settings
    service = _service(settings)
    result = await service.run_backup()
    at_backup = await content(settings.database_url)
    path = sqlite_path(settings.database_url)
    subprocess.run([sys.executable, "-c", _STALE_WAL_WRITER, str(path)], check=True, timeout=60)
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the stale WAL is there, full of frames

    await service.restore(result.local.name)
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT COUNT(*) FROM comments WHERE content = 'after the backup'").fetchone() == (0,)
    finally:
        conn.close()
    assert await content(settings.database_url) == at_backup


async def test_a_copy_failing_integrity_check_is_refused(sqlite_settings: Settings, tmp_path: Path) -> None:
    settings = sqlite_settings
    service = _service(settings)
    result = await service.run_backup()
    members = _members(settings.backup_dir / result.local.name)
    probe = tmp_path / "probe.db"
    probe.write_bytes(members["database.sqlite"])
    conn = sqlite3.connect(probe)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'videos'").fetchone()[0]
    finally:
        conn.close()
    damaged = bytearray(members["database.sqlite"])
    start = (root - 1) * page_size
    damaged[start:start + 12] = b"\xff" * 12  # the videos table's b-tree page header is garbage
    manifest = json.loads(members["manifest.json"])  # made consistent, so only integrity_check can tell
    manifest["files"]["database.sqlite"] = {"size": len(damaged), "sha256": hashlib.sha256(damaged).hexdigest()}
    bad_tar = tmp_path / "bad.tar"
    with tarfile.open(bad_tar, "w") as tar:
        for name, data in {**members, "database.sqlite": bytes(damaged),
                           "manifest.json": json.dumps(manifest).encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    before = await _live_fingerprint(settings)
    with pytest.raises(BackupError) as info:
        await service.restore(str(bad_tar))
    assert "integrity_check" in info.value.message
    assert await _live_fingerprint(settings) == before


async def test_a_damaged_live_database_can_still_be_restored(sqlite_settings: Settings) -> None:
    settings = sqlite_settings
    service = _service(settings)
    result = await service.run_backup()
    at_backup = await content(settings.database_url)
    path = sqlite_path(settings.database_url)
    data = bytearray(path.read_bytes())
    data[100:4096 * 3] = b"\x00" * (4096 * 3 - 100)  # the schema pages are gone
    path.write_bytes(bytes(data))
    with pytest.raises((RuntimeError, sqlite3.DatabaseError)):
        await open_database(settings.database_url)  # start-up refuses it

    restored = await service.restore(result.local.name)
    assert restored.previous_copy and restored.previous_copy.endswith("-raw")  # kept as raw files
    assert (settings.backup_dir / restored.previous_copy / path.name).read_bytes() == bytes(data)
    assert await content(settings.database_url) == at_backup


# -- the command line against a real server process ------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(settings: Settings, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir),
           "KDRAMA_DATABASE_URL": settings.database_url, **extra_env}
    return subprocess.run([sys.executable, "-m", "kdrama_tui", *args], env=env, text=True, capture_output=True,
                          timeout=120)


async def test_cli_backup_and_restore_with_a_running_server(sqlite_settings: Settings) -> None:
    import os

    from tests.support.postgres import free_port

    settings = sqlite_settings
    made = _cli(settings, "backup", "run")
    assert made.returncode == 0, made.stderr
    name = next(line for line in made.stdout.splitlines() if line.startswith("backup ")).split()[1]
    assert name.startswith("kdrama-backup-") and (settings.backup_dir / name).is_file()
    listed = _cli(settings, "backup", "list", "--local")
    assert listed.returncode == 0 and name in listed.stdout

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir),
           "KDRAMA_SERVER_PORT": str(port), "KDRAMA_BACKUP_ENABLED": "false", "KDRAMA_INGEST_ENABLED": "false"}
    server = subprocess.Popen([sys.executable, "-m", "kdrama_tui", "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (settings.data_dir / "server.lock").exists() or \
                not (settings.data_dir / "server.lock").read_text().strip():
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        refused = _cli(settings, "backup", "restore", name)
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1 and f"pid {server.pid}" in refused.stderr
    finally:
        server.terminate()
        server.wait(30)
    restored = _cli(settings, "backup", "restore", name)
    assert restored.returncode == 0, restored.stderr
    assert "kdrama-prerestore-" in restored.stdout

    missing = _cli(settings, "backup", "restore", "kdrama-backup-20000101T000000Z.tar")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no backup" in missing.stderr


async def test_cli_cloud_backup_list_and_restore_by_name(sqlite_settings: Settings, s3_bucket: S3Bucket) -> None:
    settings = sqlite_settings
    at_backup = await content(settings.database_url)
    cloud_env = {"KDRAMA_BACKUP_CLOUD_BUCKET": s3_bucket.name, "KDRAMA_BACKUP_ENCRYPTION_KEY": KEY,
                 "KDRAMA_STORAGE_ENDPOINT_URL": s3_bucket.server.endpoint_url,
                 "KDRAMA_STORAGE_ACCESS_KEY": s3_bucket.server.access_key,
                 "KDRAMA_STORAGE_SECRET_KEY": s3_bucket.server.secret_key}
    made = _cli(settings, "backup", "run", "--cloud", **cloud_env)
    assert made.returncode == 0, made.stderr
    [cloud_name] = s3_bucket.keys()
    assert cloud_name in made.stdout and cloud_name.endswith(".tar.gz.enc")
    listed = _cli(settings, "backup", "list", **cloud_env)
    assert listed.returncode == 0 and cloud_name in listed.stdout and " cloud " in listed.stdout

    db = await open_database(settings.database_url)
    try:
        await fill(db, users=1, videos=1)
    finally:
        await db.close()
    wrong = _cli(settings, "backup", "restore", cloud_name,
                 **{**cloud_env, "KDRAMA_BACKUP_ENCRYPTION_KEY": "not the key that was used"})
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "encryption_key" in wrong.stderr
    assert await content(settings.database_url) != at_backup
    restored = _cli(settings, "backup", "restore", cloud_name, **cloud_env)
    assert restored.returncode == 0, restored.stderr
    assert await content(settings.database_url) == at_backup
