"""Cluster-wide locks: one holder among every process sharing the database, released when the holder dies.

On PostgreSQL a lock is a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own,
opened for it and held while the job runs: when the process dies (even by SIGKILL) or its machine drops off
the network, the server ends the session and the lock is free for another node. TCP keepalives on that
connection bound how long a vanished machine can keep it (about 25 s). On SQLite, one machine by design,
every lock is granted at once (:class:`LocalLock`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (the same on every node and every version)."""
    return int.from_bytes(hashlib.blake2b(f"kdrama-tui:{name}".encode(), digest_size=8).digest(), "big",
                          signed=True)


class ClusterLock(ABC):
    """A held lock; ``alive`` says whether it still is (its connection answers)."""

    name: str

    @abstractmethod
    async def alive(self) -> bool: ...

    @abstractmethod
    async def release(self) -> None: ...


class LocalLock(ClusterLock):
    """The lock of a single-machine database: there is nobody to share with."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        return None
