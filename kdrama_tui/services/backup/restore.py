"""Putting a backup back: fetch, decrypt, verify, keep the current database, replace it.

A mixin of :class:`~kdrama_tui.services.backup.service.BackupService` (it uses the service's settings,
clock, events, lock and places), kept apart so each file has one job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tarfile
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db.connect import sqlite_path
from kdrama_tui.db.pg_session import connected_applications
from kdrama_tui.errors import Conflict, NotFound
from kdrama_tui.events import EventBus
from kdrama_tui.fsutil import atomic_write_bytes, fsync_dir, temp_path_for
from kdrama_tui.services.backup import database_dump as backup_db
from kdrama_tui.services.backup.crypto import (
    BackupDecryptError,
    StreamDecryptor,
    is_encrypted,
)
from kdrama_tui.services.backup.database_dump import POSTGRES_MEMBER, SQLITE_MEMBER, BackupError
from kdrama_tui.services.backup.names import (
    BLOCK,
    LAST_RESTORE_FILE,
    MEMBERS,
    NAME,
    TIMESTAMP,
    RestoreResult,
    sha256_file,
)
from kdrama_tui.services.backup.server_lock import running_server

log = logging.getLogger(__name__)


class RestoreSteps:
    """The restore half of the backup service."""

    settings: Settings
    events: EventBus
    clock: Callable[[], datetime]
    application_name: str

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
                while block := src.read(BLOCK):
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
                    if info.name not in MEMBERS or not info.isreg() or info.name in members:
                        raise BackupError(f"unexpected entry {info.name!r} in the backup archive",
                                          code="backup_damaged", status=422)
                    source = tar.extractfile(info)
                    assert source is not None
                    target = out / info.name
                    with source, target.open("xb") as f:
                        shutil.copyfileobj(source, f, BLOCK)
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
            if path is None or path.stat().st_size != meta["size"] or sha256_file(path) != meta["sha256"]:
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
            folder = self.backup_dir / f"kdrama-prerestore-{self.clock().astimezone(UTC).strftime(TIMESTAMP)}-raw"
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
            keep = target.with_name(f"{target.name}.pre-restore-{self.clock().astimezone(UTC).strftime(TIMESTAMP)}")
            shutil.copy2(target, keep)
            os.chmod(keep, 0o600)
        atomic_write_bytes(target, data, mode=0o600)
        return True

    def save_last_restore(self, report: dict[str, Any]) -> None:
        """Keep what the last restore did (and reconciled) for the Backups section after the restart."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.backup_dir / LAST_RESTORE_FILE,
                           json.dumps({**report, "at": self.clock().isoformat()}, default=str).encode())

    def last_restore(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.backup_dir / LAST_RESTORE_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None
