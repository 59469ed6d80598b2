"""Backup names, what a backup holds, the results of a run or a restore, and the small file helpers both use."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kdrama_tui.fsutil import atomic_write_bytes
from kdrama_tui.services.backup.database_dump import POSTGRES_MEMBER, SQLITE_MEMBER

NAME = re.compile(r"^kdrama-(?P<kind>backup|prerestore)-(?P<ts>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?"
                  r"\.tar(?P<enc>\.gz\.enc)?$")
TIMESTAMP = "%Y%m%dT%H%M%SZ"
BLOCK = 4 * 1024 * 1024
MEMBERS = {SQLITE_MEMBER, POSTGRES_MEMBER, "master.key", "config.json", "manifest.json"}
STATE_FILE = ".schedule.json"
LAST_RESTORE_FILE = ".last-restore.json"
# What a backup holds, and what it does not: said wherever backups are listed or restored.
BACKUP_HOLDS = {"holds": ["database", "master key", "configuration (secrets masked)"],
                "not": "media files (originals, renditions, subtitles, posters): back the media folder or bucket "
                       "up apart; after a restore, videos whose files are gone are re-queued or marked missing"}
FAILURE_BACKOFF = timedelta(minutes=15)


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
    created = datetime.strptime(match["ts"], TIMESTAMP).replace(tzinfo=UTC)
    return BackupInfo(name, location, match["kind"], created, size, bool(match["enc"]))


def expired(backups: list[BackupInfo], retention_days: int, now: datetime) -> list[BackupInfo]:
    """Backups older than ``retention_days`` (strictly), except the newest regular backup, which always
    stays: a backup that keeps failing must never leave the admin with none."""
    cutoff = now - timedelta(days=retention_days)
    regular = [b for b in backups if b.kind == "backup"]
    newest = max(regular, key=lambda b: (b.created_at, b.name)) if regular else None
    return [b for b in backups if b.created_at < cutoff and b is not newest]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


class Throttle:
    """At most one progress event a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            return True
        return False


class CountingReader:
    """A file read by tarfile, reporting the bytes read so far."""

    def __init__(self, f: Any, report: Callable[[int], None]) -> None:
        self._f, self._report, self.done = f, report, 0

    def read(self, size: int = -1) -> bytes:
        block = self._f.read(size)
        self.done += len(block)
        self._report(self.done)
        return block


def read_schedule_state(backup_dir: Path) -> dict[str, datetime]:
    """When the schedule last ran each kind of backup (``.schedule.json`` in the backup folder)."""
    try:
        raw = json.loads((backup_dir / STATE_FILE).read_text())
        return {k: datetime.fromisoformat(v) for k, v in raw.items() if isinstance(v, str)}
    except (FileNotFoundError, ValueError, AttributeError):
        return {}


def save_schedule_state(backup_dir: Path, **values: datetime) -> None:
    state = {**read_schedule_state(backup_dir), **values}
    atomic_write_bytes(backup_dir / STATE_FILE, json.dumps({k: v.isoformat() for k, v in state.items()}).encode())
