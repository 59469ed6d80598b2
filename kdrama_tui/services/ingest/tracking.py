"""What the watcher remembers about each file it sees while the file is not yet complete."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".filepart", ".!qb",
                    ".opdownload", ".aria2", ".swp", "~")
Signature = tuple[int, int, int]  # size, mtime_ns, inode


def is_partial_name(name: str) -> bool:
    """Names that mean "not finished yet" (or not meant for us): ignored until renamed."""
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


def identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = folder.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def signature_of(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass
class Tracked:
    """One file on its way to being imported: where it was found and since when it is unchanged."""

    root: Path
    signature: Signature
    stable_since: float
    sidecar: bool
    last_waiting: float = 0.0
    waiting_reason: str = ""
    retry_at: float = 0.0
    lone_since: float | None = None  # a subtitle: since when no video in its folder claims it
    next_lookup: float = 0.0  # a lone subtitle: when to look for its video in the library again
