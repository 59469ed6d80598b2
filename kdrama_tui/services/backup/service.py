"""Backups: consistent database copies bundled with what a restore needs, kept locally and in the cloud.

A backup is a tar holding the database copy (``database.sqlite`` from ``VACUUM INTO``, or
``database.pgdump`` from ``pg_dump -Fc``), the master key file, the effective configuration (secrets
masked) and a ``manifest.json`` with each member's SHA-256. The copy is checked (``integrity_check`` /
``pg_restore --list``) before the tar is written to a temp name, fsynced and renamed, so a killed or
failed run never replaces or damages an earlier good backup.

- Daily: ``<backup_dir>/kdrama-backup-<UTC time>.tar``.
- Weekly (``cloud=True``): the same tar, gzip-compressed and encrypted (see ``backup_crypto``), streamed to
  ``backup.cloud_bucket`` on the ``[storage]`` S3 endpoint as ``kdrama-backup-<UTC time>.tar.gz.enc``.
- Retention prunes local copies older than ``local_retention_days`` and cloud copies older than
  ``cloud_retention_days``, never the newest backup of either place.
- Restore verifies everything before touching the live database, keeps a copy of it
  (``kdrama-prerestore-<time>.tar``), refuses while a server holds the data folder's lock, and never lets
  a stale ``-wal``/``-shm`` be replayed onto the restored file.

Backups and restores of one data folder are serialised across processes by a lock file in backup_dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from kdrama_tui import __version__
from kdrama_tui.config import Settings
from kdrama_tui.db.connect import sqlite_path
from kdrama_tui.db.pg_session import connected_applications
from kdrama_tui.errors import Conflict, DomainError, NotFound
from kdrama_tui.events import EventBus
from kdrama_tui.fsutil import atomic_write_bytes, fsync_dir, temp_path_for
from kdrama_tui.models import utcnow
from kdrama_tui.services.backup import database_dump as backup_db
from kdrama_tui.services.backup.crypto import (
    BackupDecryptError,
    StreamDecryptor,
    StreamEncryptor,
    is_encrypted,
)
from kdrama_tui.services.backup.database_dump import POSTGRES_MEMBER, SQLITE_MEMBER, BackupError
from kdrama_tui.services.backup.schedule import is_due, latest_daily_slot, latest_weekly_slot
from kdrama_tui.services.backup.server_lock import running_server
from kdrama_tui.storage import Storage

log = logging.getLogger(__name__)

NAME = re.compile(r"^kdrama-(?P<kind>backup|prerestore)-(?P<ts>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?"
                  r"\.tar(?P<enc>\.gz\.enc)?$")
_TS = "%Y%m%dT%H%M%SZ"
_BLOCK = 4 * 1024 * 1024
_MEMBERS = {SQLITE_MEMBER, POSTGRES_MEMBER, "master.key", "config.json", "manifest.json"}
_STATE = ".schedule.json"
_LAST_RESTORE = ".last-restore.json"
# What a backup holds, and what it does not: said wherever backups are listed or restored.
BACKUP_HOLDS = {"holds": ["database", "master key", "configuration (secrets masked)"],
                "not": "media files (originals, renditions, subtitles, posters): back the media folder or bucket "
                       "up apart; after a restore, videos whose files are gone are re-queued or marked missing"}
_FAILURE_BACKOFF = timedelta(minutes=15)


@dataclass(frozen=True)
class BackupInfo:
    name: str
    location: str  # "local" or "cloud"
    kind: str  # "backup" or "prerestore" (the copy a restore keeps of the database it replaced)
    created_at: datetime
    size: int
    encrypted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "location": self.location, "kind": self.kind,
                "created_at": self.created_at.isoformat(), "size": self.size, "encrypted": self.encrypted}


@dataclass
class BackupResult:
    local: BackupInfo
    cloud: BackupInfo | None = None
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"local": self.local.to_dict(), "cloud": self.cloud.to_dict() if self.cloud else None,
                "pruned": self.pruned, "seconds": round(self.seconds, 3)}


@dataclass
class RestoreResult:
    restored: str
    dialect: str
    previous_copy: str | None  # name of the pre-restore backup (or folder) of the replaced database
    master_key_restored: bool

    def to_dict(self) -> dict[str, Any]:
        return {"restored": self.restored, "dialect": self.dialect, "previous_copy": self.previous_copy,
                "master_key_restored": self.master_key_restored, "holds": BACKUP_HOLDS}


def parse_name(name: str, location: str, size: int) -> BackupInfo | None:
    match = NAME.match(name)
    if not match:
        return None
    created = datetime.strptime(match["ts"], _TS).replace(tzinfo=UTC)
    return BackupInfo(name, location, match["kind"], created, size, bool(match["enc"]))


def expired(backups: list[BackupInfo], retention_days: int, now: datetime) -> list[BackupInfo]:
    """Backups older than ``retention_days`` (strictly), except the newest regular backup, which always
    stays: a backup that keeps failing must never leave the admin with none."""
    cutoff = now - timedelta(days=retention_days)
    regular = [b for b in backups if b.kind == "backup"]
    newest = max(regular, key=lambda b: (b.created_at, b.name)) if regular else None
    return [b for b in backups if b.created_at < cutoff and b is not newest]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


class _Throttle:
    """At most one progress event a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            return True
        return False


class _CountingReader:
    """A file read by tarfile, reporting the bytes read so far."""

    def __init__(self, f: Any, report: Callable[[int], None]) -> None:
        self._f, self._report, self.done = f, report, 0

    def read(self, size: int = -1) -> bytes:
        block = self._f.read(size)
        self.done += len(block)
        self._report(self.done)
        return block


class BackupService:
    def __init__(self, settings: Settings, events: EventBus, *, clock: Callable[[], datetime] = utcnow,
                 tz: tzinfo | None = None,
                 cloud_factory: Callable[[], Storage] | None = None) -> None:
        self.settings = settings
        self.events = events
        self.clock = clock
        self.tz = tz  # None: the system's local time zone (for daily_at)
        self._cloud_factory = cloud_factory
        self._lock = asyncio.Lock()
        self.application_name = ""  # this process's own PostgreSQL sessions, which a restore may ignore

    def _progress_from_thread(self, stage: str, total: int) -> Callable[[int], None]:
        """A callback for a worker thread: backup.progress with bytes, at most once a second, on the loop."""
        loop, throttle = asyncio.get_running_loop(), _Throttle()

        def report(done: int) -> None:
            if throttle.ready() or done >= total:
                loop.call_soon_threadsafe(
                    lambda: self.events.publish("backup.progress", stage=stage, done=done, total=total))

        return report

    # -- places ------------------------------------------------------------------------------------------

    @property
    def backup_dir(self) -> Path:
        return self.settings.backup_dir

    @property
    def dialect(self) -> str:
        return "sqlite" if self.settings.database_url.startswith("sqlite") else "postgresql"

    @property
    def cloud_configured(self) -> bool:
        return bool(self.settings.backup.cloud_bucket) or self._cloud_factory is not None

    @property
    def cloud_ready(self) -> bool:
        """Weekly cloud backups can run (a bucket and an encryption key are set)."""
        return self.cloud_configured and bool(self.settings.backup.encryption_key)

    def _cloud(self) -> Storage:
        if self._cloud_factory is not None:
            return self._cloud_factory()
        if not self.cloud_configured:
            raise DomainError("cloud backups are not configured: set backup.cloud_bucket (and the [storage] "
                              "S3 endpoint and keys)", code="backup_cloud_not_configured", status=409)
        from kdrama_tui.errors import ConfigError
        from kdrama_tui.storage.presets import S3_PROVIDERS, s3_config
        from kdrama_tui.storage.s3 import S3Storage

        provider = self.settings.storage.provider if self.settings.storage.provider in S3_PROVIDERS else "s3"
        try:
            config = s3_config(self.settings.storage, provider, bucket=self.settings.backup.cloud_bucket)
        except ConfigError as exc:
            raise DomainError(f"cloud backups need the [storage] S3 settings: {exc}",
                              code="backup_cloud_not_configured", status=409) from None
        return S3Storage(config)

    def _passphrase(self) -> str:
        key = self.settings.backup.encryption_key
        if not key:
            raise DomainError("backup.encryption_key is not set: cloud backups are always encrypted",
                              code="backup_key_missing", status=409)
        return key

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One backup or restore at a time for this data folder, across processes."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.backup_dir / ".backup.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict("another backup or restore is running", code="backup_running") from None
            self._remove_leftovers()
            yield
        finally:
            os.close(fd)

    def _remove_leftovers(self) -> None:
        """Temp files of a run that was killed (safe: we hold the lock, so none is in use)."""
        for path in self.backup_dir.iterdir():
            if path.name.startswith((".work-", ".restore-")):
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)

    def _new_name(self, kind: str, when: datetime) -> str:
        base = f"kdrama-{kind}-{when.astimezone(UTC).strftime(_TS)}"
        name, n = f"{base}.tar", 1
        while (self.backup_dir / name).exists():
            n += 1
            name = f"{base}-{n}.tar"
        return name

    # -- listing -----------------------------------------------------------------------------------------

    def list_local(self) -> list[BackupInfo]:
        if not self.backup_dir.is_dir():
            return []
        found = []
        for path in self.backup_dir.iterdir():
            if path.is_file() and (info := parse_name(path.name, "local", path.stat().st_size)):
                found.append(info)
        return sorted(found, key=lambda b: (b.created_at, b.name), reverse=True)

    async def list_cloud(self) -> list[BackupInfo]:
        cloud = self._cloud()
        try:
            found = [info async for key, size in cloud.iter_objects("")
                     if (info := parse_name(key, "cloud", size))]
        finally:
            await cloud.close()
        return sorted(found, key=lambda b: (b.created_at, b.name), reverse=True)

    async def list_backups(self, *, cloud: bool = True) -> list[BackupInfo]:
        """Local backups, plus the cloud ones when configured (newest first). A cloud that cannot be
        reached raises a StorageError; ``cloud=False`` lists the local ones alone."""
        backups = await asyncio.to_thread(self.list_local)
        if cloud and self.cloud_configured:
            backups += await self.list_cloud()
        return sorted(backups, key=lambda b: (b.created_at, b.name), reverse=True)

    # -- making a backup ---------------------------------------------------------------------------------

    async def run_backup(self, cloud: bool = False) -> BackupResult:
        """Make a local backup, and upload an encrypted copy when ``cloud``; then prune old ones.
        Publishes backup.started / progress / finished, or backup.failed (and re-raises)."""
        if self._lock.locked():
            raise Conflict("a backup is already running", code="backup_running")
        async with self._lock:
            started = time.monotonic()
            stage = "start"
            self.events.publish("backup.started", cloud=cloud, dialect=self.dialect)
            try:
                if cloud:  # fail before doing any work
                    self._passphrase()
                    await self._cloud().close()
                with self._exclusive():
                    stage = "database copy"
                    local = await self._make_local("backup")
                    result = BackupResult(local=local)
                    self._save_state(daily=local.created_at)
                    if cloud:
                        stage = "cloud upload"
                        result.cloud = await self._upload(local)
                        self._save_state(weekly=local.created_at)
                    stage = "retention"
                    result.pruned = await self.prune()
            except BaseException as exc:
                message = exc.message if isinstance(exc, DomainError) else f"{exc.__class__.__name__}: {exc}"
                log.error("backup failed during %s: %s", stage, message)
                self.events.publish("backup.failed", stage=stage, error=message, cloud=cloud)
                raise
            result.seconds = time.monotonic() - started
            self.events.publish("backup.finished", name=local.name, size=local.size,
                                cloud_name=result.cloud.name if result.cloud else None,
                                pruned=result.pruned, seconds=round(result.seconds, 3))
            log.info("backup %s done (%d bytes%s) in %.1fs", local.name, local.size,
                     ", uploaded" if result.cloud else "", result.seconds)
            return result

    async def _make_local(self, kind: str) -> BackupInfo:
        when = self.clock()
        name = self._new_name(kind, when)
        work = self.backup_dir / f".work-{uuid.uuid4().hex}"
        work.mkdir()
        try:
            member = await self._snapshot(work)
            self.events.publish("backup.progress", stage="bundle", name=name)
            target = self.backup_dir / name
            report = self._progress_from_thread("bundle", member.stat().st_size)
            await asyncio.to_thread(self._bundle, work, member, target, when, report)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return BackupInfo(name, "local", kind, when.astimezone(UTC).replace(microsecond=0),
                          target.stat().st_size, False)

    async def _snapshot(self, work: Path) -> Path:
        """The checked database copy inside ``work``."""
        self.events.publish("backup.progress", stage="snapshot", dialect=self.dialect)
        if self.dialect == "sqlite":
            copy = work / SQLITE_MEMBER
            await asyncio.to_thread(backup_db.snapshot_sqlite, sqlite_path(self.settings.database_url), copy,
                                    max(self.settings.database.busy_timeout_ms, 30000))
            await asyncio.to_thread(backup_db.prepare_sqlite_copy, copy)
            self.events.publish("backup.progress", stage="verify")
            problems = await asyncio.to_thread(backup_db.sqlite_integrity, copy)
            if problems != ["ok"]:
                raise BackupError(f"the database copy failed integrity_check: {'; '.join(problems[:3])}")
            return copy
        copy = work / POSTGRES_MEMBER
        await backup_db.dump_postgres(self.settings.database_url, copy)
        self.events.publish("backup.progress", stage="verify")
        await backup_db.check_postgres_dump(copy)
        return copy

    def _bundle(self, work: Path, member: Path, target: Path, when: datetime,
                report: Callable[[int], None] | None = None) -> None:
        files = {member.name: member}
        key = self.settings.master_key_path
        if key.is_file():
            shutil.copyfile(key, work / "master.key")
            files["master.key"] = work / "master.key"
        config = work / "config.json"
        effective = self.settings.effective(mask_secrets=True)
        config.write_text(json.dumps({"note": "secrets are masked; set them again when restoring",
                                      "settings": effective}, indent=2, default=str))
        files["config.json"] = config
        manifest = {
            "format": 1, "app": "kdrama-tui", "app_version": __version__, "dialect": self.dialect,
            "created_at": when.astimezone(UTC).isoformat(), "database": member.name,
            "files": {n: {"size": p.stat().st_size, "sha256": _sha256_file(p)} for n, p in files.items()},
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        files["manifest.json"] = work / "manifest.json"
        tmp = temp_path_for(target)
        try:
            with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
                for name in ("manifest.json", *sorted(n for n in files if n != "manifest.json")):
                    info = tar.gettarinfo(str(files[name]), arcname=name)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o600
                    with files[name].open("rb") as f:
                        counted = _CountingReader(f, report) if report and name == member.name else f
                        tar.addfile(info, counted)
            _fsync_file(tmp)
            os.chmod(tmp, 0o600)  # it holds the master key
            os.replace(tmp, target)
            fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)

    async def _encrypted(self, path: Path, passphrase: str, total: int) -> AsyncIterator[bytes]:
        encryptor = await asyncio.to_thread(StreamEncryptor, passphrase)  # scrypt takes ~0.1 s
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing
        throttle, done = _Throttle(), 0
        with path.open("rb") as f:
            while block := await asyncio.to_thread(f.read, _BLOCK):
                done += len(block)
                out = await asyncio.to_thread(lambda b=block: encryptor.update(compressor.compress(b)))
                if out:
                    yield out
                if throttle.ready():
                    self.events.publish("backup.progress", stage="upload", done=done, total=total)
        yield await asyncio.to_thread(lambda: encryptor.update(compressor.flush()) + encryptor.finalize())

    async def _upload(self, local: BackupInfo) -> BackupInfo:
        name = f"{local.name}.gz.enc"
        path = self.backup_dir / local.name
        cloud = self._cloud()
        try:
            stored = await cloud.put_stream(name, self._encrypted(path, self._passphrase(), local.size))
            if await cloud.size(name) != stored.size:
                raise BackupError(f"the uploaded {name} has the wrong size on the cloud")
        finally:
            await cloud.close()
        self.events.publish("backup.progress", stage="upload", done=local.size, total=local.size)
        return BackupInfo(name, "cloud", "backup", local.created_at, stored.size, True)

    # -- retention ---------------------------------------------------------------------------------------

    async def prune(self) -> list[str]:
        """Delete local and cloud backups past their retention (never the newest of each place)."""
        now = self.clock()
        removed = []
        for info in expired(self.list_local(), self.settings.backup.local_retention_days, now):
            (self.backup_dir / info.name).unlink(missing_ok=True)
            removed.append(info.name)
        if self.cloud_configured:
            cloud = self._cloud()
            try:
                found = [info async for key, size in cloud.iter_objects("")
                         if (info := parse_name(key, "cloud", size))]
                old = expired(found, self.settings.backup.cloud_retention_days, now)
                await cloud.delete_many([b.name for b in old])
                removed += [b.name for b in old]
            finally:
                await cloud.close()
        if removed:
            log.info("retention removed %s", ", ".join(removed))
        return removed

    # -- restore -----------------------------------------------------------------------------------------

    async def restore(self, source: str, *, force: bool = False, from_server: bool = False) -> RestoreResult:
        """Put a backup back: ``source`` is a file path, a local backup's name, or a cloud backup's name.

        Everything is decrypted and verified first (a wrong key, a damaged or truncated file change
        nothing); then a copy of the current database is kept and the backup replaces it. Refuses while a
        server serves this data folder, and on PostgreSQL while any other kdrama-tui process (another node
        of the cluster, a worker) is connected, unless ``force``. ``from_server``: the restore runs inside the
        server that serves this folder (the dashboard's), which restarts right after.
        """
        with self._exclusive():
            work = self.backup_dir / f".restore-{uuid.uuid4().hex}"
            work.mkdir()
            try:
                self.events.publish("backup.progress", stage="restore.fetch", source=source)
                tar_path = await self._fetch(source, work)
                self.events.publish("backup.progress", stage="restore.verify", source=source)
                manifest, members = await asyncio.to_thread(self._unpack, tar_path, work)
                database = members[manifest["database"]]
                if manifest.get("dialect") != self.dialect:
                    raise BackupError(f"the backup is of a {manifest.get('dialect')} database but database.url "
                                      f"is {self.dialect}", code="backup_wrong_dialect", status=409)
                await self._verify_database(database)
                pid = running_server(self.settings)
                if pid is not None and not (force or from_server):
                    raise Conflict(f"a kdrama-tui server (pid {pid or 'unknown'}) is serving this data folder; "
                                   "stop it first, or pass --force", code="server_running")
                if self.dialect == "postgresql" and not force:
                    await self._refuse_other_nodes()
                previous = await self._keep_current()
                self.events.publish("backup.progress", stage="restore.replace", source=source)
                if self.dialect == "sqlite":
                    await asyncio.to_thread(self._replace_sqlite, database)
                else:
                    await backup_db.restore_postgres(self.settings.database_url, database)
                key_restored = self._restore_master_key(members.get("master.key"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        result = RestoreResult(Path(source).name, self.dialect, previous, key_restored)
        self.events.publish("backup.restored", **result.to_dict())
        log.warning("database restored from %s (previous database kept as %s)", source, previous)
        return result

    async def _refuse_other_nodes(self) -> None:
        """``pg_restore --clean`` under live nodes would pull the tables from under them: name them instead."""
        others = await connected_applications(self.settings.session_database_url, exclude=self.application_name)
        if others:
            names = ", ".join(name.removeprefix("kdrama-tui ") for name in others)
            raise Conflict(f"other kdrama-tui processes are connected to this database ({names}); stop them "
                           "first, or pass --force", code="nodes_connected", details={"connected": others})

    async def _fetch(self, source: str, work: Path) -> Path:
        """The plain tar of ``source``, decrypted into ``work`` if it is encrypted."""
        path = Path(source)
        if not path.is_file():
            local = self.backup_dir / Path(source).name
            if NAME.match(Path(source).name) and local.is_file():
                path = local
            elif NAME.match(source) and self.cloud_configured:
                cloud = self._cloud()
                try:
                    path = work / "download"
                    await cloud.get_to_file(source, path)
                except FileNotFoundError:
                    raise NotFound(f"no backup {source!r} in the cloud bucket", code="backup_not_found") from None
                finally:
                    await cloud.close()
            else:
                raise NotFound(f"no backup file {source!r} (give a path, or a name from `backup list`)",
                               code="backup_not_found")
        with path.open("rb") as f:
            head = f.read(8)
        if not is_encrypted(head):
            return path
        plain = work / "backup.tar"
        report = self._progress_from_thread("restore.decrypt", path.stat().st_size)
        await asyncio.to_thread(self._decrypt, path, plain, self._passphrase(), report)
        return plain

    @staticmethod
    def _decrypt(source: Path, target: Path, passphrase: str, report: Callable[[int], None] | None = None) -> None:
        decryptor = StreamDecryptor(passphrase)
        inflater = zlib.decompressobj(31)
        done = 0
        with source.open("rb") as src, target.open("xb") as dst:
            try:
                while block := src.read(_BLOCK):
                    dst.write(inflater.decompress(decryptor.update(block)))
                    done += len(block)
                    if report is not None:
                        report(done)
                decryptor.finalize()
                dst.write(inflater.flush())
            except zlib.error as exc:  # authenticated yet not gzip: not made by us
                raise BackupDecryptError(f"the decrypted backup is not a compressed archive ({exc})") from None
            if not inflater.eof or inflater.unused_data:
                raise BackupDecryptError("the decrypted backup's archive is incomplete")

    @staticmethod
    def _unpack(tar_path: Path, work: Path) -> tuple[dict[str, Any], dict[str, Path]]:
        """Extract the expected members (regular files with known names only) and check their SHA-256."""
        out = work / "unpacked"
        out.mkdir()
        members: dict[str, Path] = {}
        try:
            with tarfile.open(tar_path, "r:") as tar:
                for info in tar:
                    if info.name not in _MEMBERS or not info.isreg() or info.name in members:
                        raise BackupError(f"unexpected entry {info.name!r} in the backup archive",
                                          code="backup_damaged", status=422)
                    source = tar.extractfile(info)
                    assert source is not None
                    target = out / info.name
                    with source, target.open("xb") as f:
                        shutil.copyfileobj(source, f, _BLOCK)
                    members[info.name] = target
        except (tarfile.TarError, EOFError) as exc:
            raise BackupError(f"the backup archive is damaged: {exc}", code="backup_damaged", status=422) from None
        if "manifest.json" not in members:
            raise BackupError("the backup archive has no manifest.json", code="backup_damaged", status=422)
        try:
            manifest = json.loads(members["manifest.json"].read_text())
            expected = manifest["files"]
            database = manifest["database"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the backup's manifest is damaged: {exc}", code="backup_damaged", status=422) from None
        if database not in (SQLITE_MEMBER, POSTGRES_MEMBER) or database not in members:
            raise BackupError("the backup holds no database", code="backup_damaged", status=422)
        for name, meta in expected.items():
            path = members.get(name)
            if path is None or path.stat().st_size != meta["size"] or _sha256_file(path) != meta["sha256"]:
                raise BackupError(f"{name} in the backup does not match its manifest checksum",
                                  code="backup_damaged", status=422)
        return manifest, members

    async def _verify_database(self, database: Path) -> None:
        if database.name == SQLITE_MEMBER:
            problems = await asyncio.to_thread(backup_db.sqlite_integrity, database)
            if problems != ["ok"]:
                raise BackupError(f"the backup's database fails integrity_check: {'; '.join(problems[:3])}",
                                  code="backup_damaged", status=422)
        else:
            await backup_db.check_postgres_dump(database)

    async def _keep_current(self) -> str | None:
        """A copy of the database about to be replaced, as a regular backup; a damaged database that
        cannot be copied consistently is kept as raw files instead."""
        if self.dialect == "sqlite" and not sqlite_path(self.settings.database_url).is_file():
            return None
        try:
            info = await self._make_local("prerestore")
            return info.name
        except BackupError as exc:
            if self.dialect != "sqlite":
                raise
            log.warning("could not copy the current database consistently (%s); keeping its raw files", exc)
            db_path = sqlite_path(self.settings.database_url)
            folder = self.backup_dir / f"kdrama-prerestore-{self.clock().astimezone(UTC).strftime(_TS)}-raw"
            folder.mkdir(exist_ok=True)
            for path in [db_path, *backup_db.sqlite_sidecars(db_path)]:
                if path.exists():
                    shutil.copy2(path, folder / path.name)
            return folder.name

    def _replace_sqlite(self, database: Path) -> None:
        db_path = sqlite_path(self.settings.database_url)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        staged = temp_path_for(db_path)
        try:
            shutil.copyfile(database, staged)
            backup_db.prepare_sqlite_copy(staged)
            for sidecar in backup_db.sqlite_sidecars(staged):
                sidecar.unlink(missing_ok=True)
            # The old WAL belongs to the old file: replayed onto the restored one it would corrupt it.
            for sidecar in backup_db.sqlite_sidecars(db_path):
                sidecar.unlink(missing_ok=True)
            os.replace(staged, db_path)
            fsync_dir(db_path.parent)
        finally:
            staged.unlink(missing_ok=True)

    def _restore_master_key(self, key_file: Path | None) -> bool:
        if key_file is None:
            return False
        target = self.settings.master_key_path
        data = key_file.read_bytes()
        if target.is_file():
            if target.read_bytes() == data:
                return False
            keep = target.with_name(f"{target.name}.pre-restore-{self.clock().astimezone(UTC).strftime(_TS)}")
            shutil.copy2(target, keep)
            os.chmod(keep, 0o600)
        atomic_write_bytes(target, data, mode=0o600)
        return True

    def save_last_restore(self, report: dict[str, Any]) -> None:
        """Keep what the last restore did (and reconciled) for the Backups section after the restart."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.backup_dir / _LAST_RESTORE,
                           json.dumps({**report, "at": self.clock().isoformat()}, default=str).encode())

    def last_restore(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.backup_dir / _LAST_RESTORE).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- schedule ----------------------------------------------------------------------------------------

    def _state(self) -> dict[str, datetime]:
        try:
            raw = json.loads((self.backup_dir / _STATE).read_text())
            return {k: datetime.fromisoformat(v) for k, v in raw.items() if isinstance(v, str)}
        except (FileNotFoundError, ValueError, AttributeError):
            return {}

    def _save_state(self, **values: datetime) -> None:
        state = {**self._state(), **values}
        atomic_write_bytes(self.backup_dir / _STATE,
                           json.dumps({k: v.isoformat() for k, v in state.items()}).encode())

    def last_runs(self) -> tuple[datetime | None, datetime | None]:
        """(last daily, last weekly): from the state file and the backup files' own timestamps."""
        state = self._state()
        regular = [b.created_at for b in self.list_local() if b.kind == "backup"]
        daily = max([*regular, *([state["daily"]] if "daily" in state else [])], default=None)
        return daily, state.get("weekly")

    def due(self, now: datetime) -> tuple[bool, bool]:
        """(a daily run is due, a weekly cloud run is due) at ``now``."""
        daily, weekly = self.last_runs()
        b = self.settings.backup
        daily_due = is_due(daily, latest_daily_slot(now, b.daily_at, self.tz))
        weekly_due = self.cloud_ready and is_due(weekly, latest_weekly_slot(now, b.daily_at, b.weekly_on,
                                                                                  self.tz))
        return daily_due, weekly_due

    async def run_schedule(self, *, poll_seconds: float = 60.0,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """The in-process schedule: checks every ``poll_seconds`` whether a run is due (which also catches
        up a run missed while the process was down, once, at start-up)."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        if not self._state() and not self.list_local():
            # First start: backups are owed from now on, so a machine that is never up at daily_at still
            # gets its backup at the next start after a missed slot.
            self._save_state(daily=self.clock(), weekly=self.clock())
        retry_after: datetime | None = None
        while True:
            now = self.clock()
            daily_due, weekly_due = self.due(now)
            if (daily_due or weekly_due) and (retry_after is None or now >= retry_after):
                try:
                    await self.run_backup(cloud=weekly_due)
                    retry_after = None
                except Conflict:
                    pass  # a manual run is going on; it counts
                except Exception:  # published as backup.failed; try again later, not in a tight loop
                    retry_after = now + _FAILURE_BACKOFF
            await sleep(poll_seconds)
