"""Who still has a file open for writing: the check that a dropped file is complete.

Why ``/proc/*/fd`` and not a lock attempt: ``flock``/``fcntl`` locks are advisory, and the tools that
fill a watch folder (``cp``, ``rsync``, ``scp``, Samba with its default ``kernel share modes = no``, a
browser download) take none, so an exclusive non-blocking lock succeeds on a file that is still being
written and proves nothing. ``/proc/<pid>/fd`` lists every open file of every process we may inspect,
and ``/proc/<pid>/fdinfo/<fd>`` says whether it was opened for writing, whatever the writer is.

Limits, covered by the quiet period (size and mtime unchanged for ``ingest.quiet_seconds``) that is
always required too: a process whose ``/proc`` entries we may not read (another user's, when not root;
or a PID namespace we cannot see, e.g. a writer in another container, or the file server of a remote
client) is invisible, and there is no ``/proc`` outside Linux (then only the quiet period counts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Writer:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"{self.command} (pid {self.pid})"


def _write_mode(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except (OSError, ValueError, IndexError):
        return False
    return False


def _command(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(errors="replace").strip() or "?"
    except OSError:
        return "?"


def proc_available() -> bool:
    return (PROC / "self" / "fd").is_dir()


def open_writers(path: Path) -> list[Writer]:
    """Processes holding ``path`` open for writing (empty when none, or when /proc cannot tell)."""
    try:
        target = os.stat(path)
    except OSError:
        return []
    tail = "/" + path.name
    writers: list[Writer] = []
    try:
        pids = [entry.name for entry in os.scandir(PROC) if entry.name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            link = f"{fd_dir}/{fd}"
            try:
                # The link text is cheap to read and names the file (or "socket:[..]", "pipe:[..]"); only
                # candidates with the same name are stat'ed to compare the inode itself.
                shown = os.readlink(link)
                if not (shown.endswith(tail) or shown.endswith(tail + " (deleted)")):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino) and _write_mode(pid, fd):
                writers.append(Writer(int(pid), _command(pid)))
                break
    return writers
