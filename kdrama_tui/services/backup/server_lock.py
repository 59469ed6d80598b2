"""A lock file a serving process holds, so tools (``backup restore``) can tell that a server is running.

``flock`` is released by the kernel when the process dies, even by SIGKILL, so a crashed server never
leaves a stale lock; the file keeps the holder's pid for messages only. Locks are per open file, so a
check from inside the serving process itself also sees the lock as taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from kdrama_tui.config import Settings

log = logging.getLogger(__name__)


def lock_path(settings: Settings) -> Path:
    return settings.data_dir / "server.lock"


def running_server(settings: Settings) -> int | None:
    """The pid of a process serving this data folder (0 when unknown), or None when none is."""
    path = lock_path(settings)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class hold_server_lock:  # lower case: used like a function, `with hold_server_lock(settings):`
    """Hold the lock while serving (``with`` or ``async with``). ``held`` is False (and a warning is
    logged) when another process already holds it: serving goes on, restores still see that one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.held = False
        self._fd: int | None = None

    def __enter__(self) -> hold_server_lock:
        path = lock_path(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.warning("another kdrama-tui server already serves %s", self.settings.data_dir)
            return self
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd, self.held = fd, True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fd, self._fd, self.held = self._fd, None, False
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock

    async def __aenter__(self) -> hold_server_lock:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)
