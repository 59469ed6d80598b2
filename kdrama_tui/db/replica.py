"""Reads that may come from a PostgreSQL streaming replica (``[database] read_url``).

A replica is used only while it is known to be close behind the primary. Lag is measured without trusting
clocks or the replay timestamp (which goes stale on an idle primary): once a second the primary's current
WAL position is sampled and remembered with the time it was taken; the replica's replayed position then says
which sample it has reached, and the replica is that sample's age behind. A replica that is further behind
than ``max_lag_seconds``, that cannot be reached, or whose query fails is skipped: the read goes to the
primary instead, never an error.

Reads that must see a write that just happened (anywhere in the cluster) go to the primary: after a change
event (privacy, delete, metadata) the services call :meth:`ReplicaReads.hold_primary`, which keeps every read
on the primary for as long as a replica may still lag behind that change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import asyncpg

from kdrama_tui.db.base import Database, Executor, Params, Row
from kdrama_tui.db.pg_executor import PGExecutor, init_connection

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.5  # how often lag is measured
QUERY_TIMEOUT_SECONDS = 2.0  # a replica slower than this to answer is treated as gone
# Gone, refusing connections, too slow, or cancelled by recovery conflicts: all mean "ask the primary".
_UNREACHABLE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError)


def _lsn(text: str | None) -> int | None:
    """``'0/3000148'`` -> a comparable integer."""
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class LagMeter:
    """How far behind the primary a replica is, from (time, primary position) samples."""

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, at: float, primary_lsn: int) -> None:
        self._samples.append((at, primary_lsn))
        while len(self._samples) > 1 and at - self._samples[1][0] > self.keep_seconds:
            self._samples.popleft()

    def lag(self, now: float, replica_lsn: int) -> float:
        """Seconds since the newest sample the replica has replayed; infinity when it has none."""
        reached = [at for at, lsn in self._samples if lsn <= replica_lsn]
        return now - max(reached) if reached else float("inf")


class ReplicaReads(Executor):
    """An :class:`Executor` whose reads go to a replica while it keeps up, and everything else to the primary."""

    dialect = "postgresql"

    def __init__(self, primary: Database, read_url: str, *, max_lag_seconds: float, pool_size: int,
                 statement_cache_size: int, server_settings: dict[str, str]) -> None:
        self.primary: Database = primary
        self.read_url = read_url
        self.max_lag_seconds = max_lag_seconds
        self._pool_size = pool_size
        self._statement_cache_size = statement_cache_size
        self._server_settings = server_settings
        self._pool: asyncpg.Pool | None = None
        self._meter = LagMeter(keep_seconds=max(60.0, 4 * max_lag_seconds))
        self._usable = False
        self._held_until = 0.0
        self._watcher: asyncio.Task[None] | None = None
        self.lag_seconds = float("inf")
        self.stats = {"replica": 0, "primary": 0}

    # ---- life -------------------------------------------------------------------------------------------
    async def start(self) -> ReplicaReads:
        await self.check()
        self._watcher = asyncio.create_task(self._watch(), name="database.replica-lag")
        return self

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._drop_pool()

    async def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            await self.check()

    async def check(self) -> None:
        """Measure the replica's lag now, and decide whether reads may use it."""
        now = time.monotonic()
        try:
            primary_lsn = _lsn(await self.primary.fetch_value("SELECT pg_current_wal_lsn()::text"))
        except _UNREACHABLE as exc:  # the primary's own problems are not for this check to report
            log.debug("replica check: primary position unknown (%s)", exc)
            return
        if primary_lsn is not None:
            self._meter.sample(now, primary_lsn)
        was_usable = self._usable
        try:
            pool = await self._connect()
            replayed = await pool.fetchval("SELECT pg_last_wal_replay_lsn()::text", timeout=QUERY_TIMEOUT_SECONDS)
            self.lag_seconds = self._meter.lag(time.monotonic(), _lsn(replayed) or -1)
        except _UNREACHABLE as exc:
            self.lag_seconds = float("inf")
            await self._drop_pool()
            if was_usable:
                log.warning("read replica unreachable, reading from the primary: %s", exc)
        self._usable = self.lag_seconds <= self.max_lag_seconds
        if was_usable and not self._usable and self.lag_seconds != float("inf"):
            log.warning("read replica %.1f s behind (limit %.1f s): reading from the primary",
                        self.lag_seconds, self.max_lag_seconds)
        elif self._usable and not was_usable:
            log.info("read replica in use (%.2f s behind)", self.lag_seconds)

    async def _connect(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncio.wait_for(asyncpg.create_pool(
                self.read_url, min_size=1, max_size=self._pool_size, init=init_connection,
                server_settings=self._server_settings, statement_cache_size=self._statement_cache_size),
                QUERY_TIMEOUT_SECONDS)
        return self._pool

    # ---- routing ------------------------------------------------------------------------------------------
    def hold_primary(self, seconds: float | None = None) -> None:
        """Read from the primary for ``seconds`` (default: as long as a usable replica may lag, plus one
        lag check): the cluster just changed something readers must see at once."""
        hold = self.max_lag_seconds + 2 * CHECK_SECONDS if seconds is None else seconds
        self._held_until = max(self._held_until, time.monotonic() + hold)

    @property
    def replica_in_use(self) -> bool:
        return self._usable and self._pool is not None and time.monotonic() >= self._held_until

    async def _read(self, method: str, sql: str, params: Params) -> Any:
        if self.replica_in_use:
            assert self._pool is not None
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), self._pool.acquire() as conn:
                    result = await getattr(PGExecutor(conn), method)(sql, params)
                self.stats["replica"] += 1
                return result
            except _UNREACHABLE as exc:
                self._usable = False  # until the next check finds it again
                log.warning("read replica failed a query, reading from the primary: %s", exc)
        self.stats["primary"] += 1
        return await getattr(self.primary, method)(sql, params)

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        result: list[Row] = await self._read("fetch_all", sql, params)
        return result

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        result: Row | None = await self._read("fetch_one", sql, params)
        return result

    # Writes never go to a replica (it would refuse them): they are the primary's.
    async def execute(self, sql: str, params: Params = None) -> int:
        return await self.primary.execute(sql, params)

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        await self.primary.execute_many(sql, params)

    async def execute_script(self, script: str) -> None:
        await self.primary.execute_script(script)
