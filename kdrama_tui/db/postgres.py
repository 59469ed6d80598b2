"""PostgreSQL backend (asyncpg): a connection pool, prepared statements, JSONB decoded to Python."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from kdrama_tui.db.base import Database, Executor, Params, Row
from kdrama_tui.db.locks import ClusterLock
from kdrama_tui.db.notify import Listener
from kdrama_tui.db.pg_executor import PGExecutor, args_of, init_connection, translated
from kdrama_tui.db.pg_session import AdvisoryLock, PGListener
from kdrama_tui.db.replica import ReplicaReads


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 10, *, statement_cache_size: int = 100,
                 application_name: str = "", session_url: str = "", read_url: str = "",
                 replica_max_lag_seconds: float = 2.0) -> None:
        self.url = url
        self.read_url = read_url
        self._replica_max_lag = replica_max_lag_seconds
        self._replica: ReplicaReads | None = None
        self.session_url = session_url or url
        self.application_name = application_name[:63]  # NAMEDATALEN - 1: PostgreSQL would cut it anyway
        self._pool_size = pool_size
        self._statement_cache_size = statement_cache_size
        self._pool: asyncpg.Pool | None = None

    @property
    def server_settings(self) -> dict[str, str]:
        """Per-connection settings: the application name shows this node in ``pg_stat_activity``."""
        return {"application_name": self.application_name} if self.application_name else {}

    async def open(self) -> PostgresDatabase:
        # statement_cache_size=0 behind PgBouncer in transaction mode: a prepared statement lives on one
        # server connection, and the next transaction may get another one.
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self._pool_size,
                                               init=init_connection, server_settings=self.server_settings,
                                               statement_cache_size=self._statement_cache_size)
        if self.read_url:
            self._replica = await ReplicaReads(self, self.read_url, max_lag_seconds=self._replica_max_lag,
                                               pool_size=self._pool_size,
                                               statement_cache_size=self._statement_cache_size,
                                               server_settings=self.server_settings).start()
        return self

    @property
    def reads(self) -> Executor:
        return self._replica if self._replica is not None else self

    @property
    def replica(self) -> ReplicaReads | None:
        return self._replica

    def hold_primary(self) -> None:
        if self._replica is not None:
            self._replica.hold_primary()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "database is not open"
        return self._pool

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        async with self.pool.acquire() as conn:
            return await PGExecutor(conn).fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        async with self.pool.acquire() as conn:
            return await PGExecutor(conn).fetch_one(sql, params)

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self.pool.acquire() as conn:
            return await PGExecutor(conn).execute(sql, params)

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        async with self.transaction() as tx:
            await tx.execute_many(sql, params)

    async def execute_script(self, script: str) -> None:
        async with self.transaction() as tx:
            await tx.execute_script(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self.pool.acquire() as conn, translated(), conn.transaction():
            yield PGExecutor(conn)

    async def iterate(self, sql: str, params: Params = None, batch: int = 500) -> AsyncIterator[Row]:
        text, args = args_of(sql, params)
        async with self.pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(text, *args, prefetch=batch):
                yield dict(row)

    async def health(self) -> None:
        await self.fetch_value("SELECT 1")

    async def try_lock(self, name: str) -> ClusterLock | None:
        return await AdvisoryLock.try_take(self.session_url, self.application_name, name)

    async def listen(self, channel: str, callback: Callable[[str], None],
                     on_gap: Callable[[], None] | None = None) -> Listener:
        return await PGListener(self.session_url, self.application_name, channel, callback, on_gap).start()

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute("SELECT pg_notify(:channel, :payload)", {"channel": channel, "payload": payload})

    async def close(self) -> None:
        if self._replica is not None:
            await self._replica.close()
            self._replica = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
