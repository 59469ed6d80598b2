"""Jobs exactly one node of a cluster runs: backups, upload cleanup, the orphan sweep, the session sweep.

Every node that may run a job starts :func:`run_singleton` for it; the one that gets the job's cluster lock
(``db/locks.py``) runs it while the lock's connection lives, the others ask again every ``retry_seconds``.
A holder that dies (or loses its database connection) loses the lock with its session, so another node
takes over within ``retry_seconds`` plus the keepalive time of that session: well under a minute. A holder
that cannot reach its lock's connection any more stops the job at once, since another node may start it.
On SQLite every lock is granted: one machine runs everything, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from kdrama_tui.db import Database
from kdrama_tui.db.locks import ClusterLock
from kdrama_tui.events import EventBus
from kdrama_tui.repositories import repos_of

log = logging.getLogger(__name__)

SINGLETONS = ("backup.schedule", "uploads.cleanup", "storage.orphans", "sessions.cleanup")  # the jobs of one node
RETRY_SECONDS = 15.0
CHECK_SECONDS = 10.0


def describe_process(application_name: str) -> dict[str, object]:
    """``kdrama-tui serve web-a pid 12`` (``container.application_name``) as role, node and pid."""
    rest = application_name.removeprefix("kdrama-tui ")
    role, _, rest = rest.partition(" ")
    node, _, pid = rest.rpartition(" pid ")
    return {"role": role, "node": node or rest, "pid": int(pid) if pid.isdigit() else None}


async def cluster_status(db: Database, node: str) -> dict[str, object]:
    """This node's name, every kdrama-tui process connected to the database, and which node runs each
    singleton (PostgreSQL; on SQLite this one machine runs them all)."""
    sessions = repos_of(db).cluster_sessions
    singletons = {}
    for name in SINGLETONS:
        holder = await sessions.lock_holder(name)
        singletons[name] = describe_process(holder)["node"] if holder else None
    return {"node": node, "processes": [describe_process(p) for p in await sessions.processes()],
            "singletons": singletons if db.dialect == "postgresql" else {}}


async def run_singleton(db: Database, name: str, job: Callable[[], Awaitable[None]], *, node: str,
                        events: EventBus | None = None, retry_seconds: float = RETRY_SECONDS,
                        check_seconds: float = CHECK_SECONDS) -> None:
    """Run ``job`` whenever this node holds the cluster lock ``name``; forever (cancel to stop). A crash of
    the job is re-raised (after the lock is released, so another node takes over)."""
    waiting_logged = False
    while True:
        try:
            lock = await db.try_lock(name)
        except (OSError, ConnectionError) as exc:
            log.warning("%s: cannot reach the database for its lock (%s); trying again", name, exc)
            lock = None
        except Exception as exc:  # a driver error: same as an unreachable database
            log.warning("%s: taking its lock failed (%s); trying again", name, exc)
            lock = None
        if lock is None:
            if not waiting_logged:
                log.info("%s: another node runs it; this node (%s) takes over if that one stops", name, node)
                waiting_logged = True
            await asyncio.sleep(retry_seconds)
            continue
        waiting_logged = False
        if db.dialect != "sqlite":
            log.info("%s: this node (%s) runs it", name, node)
        if events is not None:
            events.publish("cluster.singleton_taken", job=name, node=node)
        try:
            if await _run_while_held(lock, job, check_seconds):
                return
        finally:
            await lock.release()
        log.warning("%s: lost its lock (the database connection dropped); stopped it here", name)
        if events is not None:
            events.publish("cluster.singleton_lost", job=name, node=node)


async def _run_while_held(lock: ClusterLock, job: Callable[[], Awaitable[None]], check_seconds: float) -> bool:
    """Run the job until it ends (True) or the lock stops answering (False, the job cancelled)."""
    task = asyncio.ensure_future(job())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_seconds)
            if done:
                task.result()  # re-raises a crash
                return True
            if not await lock.alive():
                return False
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
