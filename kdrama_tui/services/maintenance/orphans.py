"""Sweep orphaned originals: ``originals/<uuid>/`` folders that no ``video_files`` row points into.

:meth:`Library.accept_original` moves a file into storage first and commits its rows after; a process
killed in between (SIGKILL, power cut) leaves a folder nothing references, which nothing else would ever
delete. The sweep lists every configured storage, then asks the database which folders rows still point
into (in that order: a hand-off that commits meanwhile is seen as referenced), and deletes unreferenced
folders last written longer ago than ``storage.orphan_grace_hours``. The grace is what keeps a hand-off in
flight in this or another process (a CLI ingest) safe; the database is asked once more right before each
delete. Only folder names the library makes (32 hex digits) are considered.

Orphans come from crashes, so there are few. When the database references no original at all, or more
than a tenth of the folders (and more than a handful) are unreferenced, the storage most likely belongs to
another database (a wrong ``database.url``, a fresh PostgreSQL before the data was moved, an older
backup restored): the sweep then deletes nothing and says why, unless forced.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

ROOT = keys.ORIGINALS
SWEEP_INTERVAL_SECONDS = 6 * 3600
SUSPICIOUS_SHARE = 0.10  # of all folders unreferenced: more looks like another database, not a crash
SUSPICIOUS_COUNT = 3  # ... as long as there are more than this many (a small library has few folders)


@dataclass(frozen=True)
class OrphanFolder:
    provider: str
    prefix: str  # "originals/<uuid>/"
    files: int
    size: int
    modified: datetime


@dataclass
class SweepReport:
    dry_run: bool
    removed: list[OrphanFolder] = field(default_factory=list)  # or, on a dry run, would be removed
    too_recent: list[OrphanFolder] = field(default_factory=list)  # unreferenced but within the grace period
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (provider, prefix, why)
    refused: str | None = None  # why nothing was considered (the storage looks like another database's)

    @property
    def folders(self) -> int:
        return len(self.removed)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.removed)


def _suspicious(referenced: set[str], listed: list[tuple[Storage, dict[str, _Folder]]]) -> str | None:
    """Why these folders look like another database's library rather than a few crash leftovers, or None."""
    names = {name for _storage, folders in listed for name in folders}
    unreferenced = names - referenced
    if not unreferenced:
        return None
    if not referenced:
        return (f"no video in this database references any of the {len(names)} folder(s) under {ROOT}: is "
                f"database.url the database this storage belongs to? (`storage sweep --force` deletes them)")
    if len(unreferenced) > SUSPICIOUS_COUNT and len(unreferenced) > SUSPICIOUS_SHARE * len(names):
        return (f"{len(unreferenced)} of {len(names)} folders under {ROOT} are unreferenced, far more than "
                f"crashes leave: is database.url the database this storage belongs to? "
                f"(`storage sweep --force` deletes them)")
    return None


@dataclass
class _Folder:
    files: int = 0
    size: int = 0
    modified: datetime | None = None  # local: known from the walk; S3: looked up for candidates only
    keys: list[str] = field(default_factory=list)


def _walk_local(root: Path) -> dict[str, _Folder]:
    """Folders under ``root`` with their size and newest mtime, temp files of unfinished copies included.

    Directory mtimes count too: a rename into a folder updates it, while the renamed file keeps the
    mtime it had (an ingested file may be years old).
    """
    found: dict[str, _Folder] = {}
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False) or not keys.is_original_folder_name(entry.name):
            continue
        folder = _Folder()
        newest = 0.0
        for dirpath, _dirs, files in os.walk(entry.path):
            try:
                newest = max(newest, os.stat(dirpath).st_mtime)
            except FileNotFoundError:
                continue
            for name in files:
                try:
                    stat = os.stat(os.path.join(dirpath, name), follow_symlinks=False)
                except FileNotFoundError:
                    continue
                folder.files += 1
                folder.size += stat.st_size
                newest = max(newest, stat.st_mtime)
        folder.modified = datetime.fromtimestamp(newest, UTC)
        found[entry.name] = folder
    return found


class OrphanSweeper:
    def __init__(self, db: Database, storages: Mapping[str, Storage], events: EventBus, *,
                 grace: timedelta) -> None:
        self.db = db
        self.storages = storages  # the container's dict: providers built later are swept too
        self.events = events
        self.grace = grace

    async def sweep(self, *, dry_run: bool = False, force: bool = False,
                    grace: timedelta | None = None) -> SweepReport:
        """One pass over every configured storage; ``dry_run`` reports what it would delete and deletes nothing;
        ``force`` skips the another-database check; ``grace`` overrides the configured grace period."""
        report = SweepReport(dry_run=dry_run)
        listed: list[tuple[Storage, dict[str, _Folder]]] = []
        for storage in list(self.storages.values()):
            try:
                listed.append((storage, await self._list(storage)))
            except Exception as exc:  # an unreachable bucket must not stop the sweep of the others
                report.failed.append((storage.provider, ROOT, str(exc) or type(exc).__name__))
                log.warning("orphan sweep: cannot list %s on %s: %s", ROOT, storage.provider, exc)
        if not any(folders for _storage, folders in listed):
            return report
        referenced = {path.split("/")[1] async for path in repos_of(self.db).video_files.paths_starting(ROOT)
                      if path.count("/") >= 2}
        report.refused = None if force else _suspicious(referenced, listed)
        if report.refused is not None:
            log.error("orphan sweep: deleting nothing: %s", report.refused)
            return report
        cutoff = utcnow() - (self.grace if grace is None else grace)
        for storage, folders in listed:
            for name, folder in sorted(folders.items()):
                if name in referenced:
                    continue
                prefix = f"{ROOT}{name}/"
                try:
                    await self._consider(storage, prefix, folder, cutoff, report)
                except Exception as exc:
                    report.failed.append((storage.provider, prefix, str(exc) or type(exc).__name__))
                    log.warning("orphan sweep: %s on %s: %s", prefix, storage.provider, exc)
        return report

    async def _list(self, storage: Storage) -> dict[str, _Folder]:
        root = storage.local_path(ROOT.rstrip("/"))
        if root is not None:
            return await asyncio.to_thread(_walk_local, root)
        folders: dict[str, _Folder] = {}
        async for key, size in storage.iter_objects(ROOT):
            parts = key.split("/")
            if len(parts) < 3 or not keys.is_original_folder_name(parts[1]):
                continue
            folder = folders.setdefault(parts[1], _Folder())
            folder.files += 1
            folder.size += size
            folder.keys.append(key)
        return folders

    async def _consider(self, storage: Storage, prefix: str, folder: _Folder, cutoff: datetime,
                        report: SweepReport) -> None:
        modified = folder.modified
        if modified is None:  # remote: the newest object decides
            stamps = []
            for key in folder.keys:
                try:
                    stamps.append(await storage.modified(key))
                except FileNotFoundError:
                    continue
            if not stamps:
                return  # deleted meanwhile
            modified = max(stamps)
        found = OrphanFolder(storage.provider, prefix, folder.files, folder.size, modified)
        if modified > cutoff:
            report.too_recent.append(found)
            return
        if report.dry_run:
            report.removed.append(found)
            return
        # A hand-off that committed after the big query must win over this delete.
        if await repos_of(self.db).video_files.any_under(prefix):
            return
        await storage.delete_prefix(prefix)
        report.removed.append(found)
        log.info("orphan sweep: removed %s on %s (%d files, %d bytes, last written %s)", prefix,
                 storage.provider, found.files, found.size, modified.isoformat(timespec="seconds"))

    async def sweep_and_publish(self) -> SweepReport:
        """One sweep, told to the log, and to the event bus when it removed or failed something (a clean pass
        at every start-up would only crowd the dashboard's recent events)."""
        report = await self.sweep()
        log.info("orphan sweep: removed %d folder(s), %d bytes; kept %d unreferenced folder(s) younger than the "
                 "grace period; %d failure(s)", report.folders, report.bytes, len(report.too_recent),
                 len(report.failed))
        if report.folders or report.failed or report.refused:
            self.events.publish("storage.orphans_swept", folders=report.folders, bytes=report.bytes,
                                kept_recent=len(report.too_recent), failed=len(report.failed),
                                refused=report.refused)
        return report

    async def run(self) -> None:
        """The background task: a sweep at start-up (recovering from a crash), then every 6 hours."""
        while True:
            try:
                await self.sweep_and_publish()
            except Exception:
                log.exception("orphan sweep failed; will retry")
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
