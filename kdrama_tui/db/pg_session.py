"""What PostgreSQL does for a cluster on connections of their own: advisory locks and LISTEN.

Both need a session that lives as long as the lock or the subscription, so neither uses the pool. Each
connection carries the process's ``application_name`` (``pg_stat_activity`` shows every node) and TCP
keepalives, so a node that vanished without closing its socket loses its locks within about 25 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from kdrama_tui.db.locks import ClusterLock, lock_key
from kdrama_tui.db.notify import Listener

log = logging.getLogger(__name__)

KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}
ALIVE_TIMEOUT_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
CHECK_SECONDS = 5.0


async def session_connection(url: str, application_name: str) -> asyncpg.Connection:
    settings = {**KEEPALIVES, **({"application_name": application_name} if application_name else {})}
    return await asyncpg.connect(url, server_settings=settings, statement_cache_size=0)


async def _answers(conn: asyncpg.Connection) -> bool:
    if conn.is_closed():
        return False
    try:
        async with asyncio.timeout(ALIVE_TIMEOUT_SECONDS):  # not wait_for: it can swallow a cancel on 3.11
            return await conn.fetchval("SELECT 1") == 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


class AdvisoryLock(ClusterLock):
    def __init__(self, name: str, conn: asyncpg.Connection) -> None:
        self.name = name
        self._conn = conn

    @classmethod
    async def try_take(cls, url: str, application_name: str, name: str) -> AdvisoryLock | None:
        conn = await session_connection(url, application_name)
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(name)):
                return cls(name, conn)
        except BaseException:
            await conn.close()
            raise
        await conn.close()
        return None

    async def alive(self) -> bool:
        return await _answers(self._conn)

    async def release(self) -> None:
        """Closing the session releases the lock (an unlock first would only add a round trip to fail)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(ALIVE_TIMEOUT_SECONDS):
                await self._conn.close()
        if not self._conn.is_closed():
            self._conn.terminate()


class PGListener(Listener):
    def __init__(self, url: str, application_name: str, channel: str, callback: Callable[[str], None],
                 on_gap: Callable[[], None] | None) -> None:
        self.url, self.application_name, self.channel = url, application_name, channel
        self.callback, self.on_gap = callback, on_gap
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.callback(payload)
        except Exception:
            log.exception("a listener of %s failed on a message", self.channel)

    async def _connect(self) -> None:
        conn = await session_connection(self.url, self.application_name)
        try:
            await conn.add_listener(self.channel, self._deliver)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def start(self) -> PGListener:
        await self._connect()
        self._task = asyncio.create_task(self._keep(), name=f"listen.{self.channel}")
        return self

    async def _keep(self) -> None:
        """Check the connection every few seconds; reconnect when it is gone and report the gap."""
        while True:
            await asyncio.sleep(CHECK_SECONDS if self._conn is not None else RECONNECT_SECONDS)
            if self._conn is not None and await _answers(self._conn):
                continue
            if self._conn is not None:
                log.warning("lost the database connection listening on %s; reconnecting", self.channel)
                self._conn.terminate()
                self._conn = None
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("listening on %s again failed: %s", self.channel, exc)
                continue
            if self.on_gap is not None:
                self.on_gap()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(ALIVE_TIMEOUT_SECONDS):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()


async def connected_applications(url: str, *, exclude: str = "") -> list[str]:
    """The ``application_name`` of every other kdrama-tui session on this database (``backup restore``)."""
    conn = await asyncpg.connect(url, statement_cache_size=0)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND application_name LIKE 'kdrama-tui %' AND application_name <> $1 "
            "ORDER BY application_name", exclude)
    finally:
        await conn.close()
    return [r["application_name"] for r in rows]
