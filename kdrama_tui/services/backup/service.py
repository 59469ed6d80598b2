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
import json
import logging
import os
import shutil
import tarfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from kdrama_tui import __version__
from kdrama_tui.config import Settings
from kdrama_tui.db.connect import sqlite_path
from kdrama_tui.errors import Conflict, DomainError
from kdrama_tui.events import EventBus
from kdrama_tui.fsutil import fsync_dir, temp_path_for
from kdrama_tui.models import utcnow
from kdrama_tui.services.backup import database_dump as backup_db
from kdrama_tui.services.backup.crypto import (
    StreamEncryptor,
)
from kdrama_tui.services.backup.database_dump import POSTGRES_MEMBER, SQLITE_MEMBER, BackupError
from kdrama_tui.services.backup.names import (
    BLOCK,
    FAILURE_BACKOFF,
    TIMESTAMP,
    BackupInfo,
    BackupResult,
    CountingReader,
    Throttle,
    expired,
    fsync_file,
    parse_name,
    read_schedule_state,
    save_schedule_state,
    sha256_file,
)
from kdrama_tui.services.backup.restore import RestoreSteps
from kdrama_tui.services.backup.schedule import is_due, latest_daily_slot, latest_weekly_slot
from kdrama_tui.storage import Storage

log = logging.getLogger(__name__)

class BackupService(RestoreSteps):
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
        loop, throttle = asyncio.get_running_loop(), Throttle()

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
        base = f"kdrama-{kind}-{when.astimezone(UTC).strftime(TIMESTAMP)}"
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
                    save_schedule_state(self.backup_dir, daily=local.created_at)
                    if cloud:
                        stage = "cloud upload"
                        result.cloud = await self._upload(local)
                        save_schedule_state(self.backup_dir, weekly=local.created_at)
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
            "files": {n: {"size": p.stat().st_size, "sha256": sha256_file(p)} for n, p in files.items()},
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
                        counted = CountingReader(f, report) if report and name == member.name else f
                        tar.addfile(info, counted)
            fsync_file(tmp)
            os.chmod(tmp, 0o600)  # it holds the master key
            os.replace(tmp, target)
            fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)

    async def _encrypted(self, path: Path, passphrase: str, total: int) -> AsyncIterator[bytes]:
        encryptor = await asyncio.to_thread(StreamEncryptor, passphrase)  # scrypt takes ~0.1 s
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing
        throttle, done = Throttle(), 0
        with path.open("rb") as f:
            while block := await asyncio.to_thread(f.read, BLOCK):
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

    # -- schedule ----------------------------------------------------------------------------------------

    def last_runs(self) -> tuple[datetime | None, datetime | None]:
        """(last daily, last weekly): from the state file and the backup files' own timestamps."""
        state = read_schedule_state(self.backup_dir)
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
        if not read_schedule_state(self.backup_dir) and not self.list_local():
            # First start: backups are owed from now on, so a machine that is never up at daily_at still
            # gets its backup at the next start after a missed slot.
            save_schedule_state(self.backup_dir, daily=self.clock(), weekly=self.clock())
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
                    retry_after = now + FAILURE_BACKOFF
            await sleep(poll_seconds)
