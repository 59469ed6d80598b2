"""PostgreSQL backend (asyncpg): a connection pool, prepared statements, JSONB decoded to Python."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from kdrama_tui.db.base import Database, Executor, Params, Row
from kdrama_tui.db.locks import ClusterLock
from kdrama_tui.db.notify import Listener
from kdrama_tui.db.pg_session import AdvisoryLock, PGListener
from kdrama_tui.db.sql import to_numbered
from kdrama_tui.errors import (
    DomainError,
    InsufficientStorage,
    ReferenceViolation,
    UniqueViolation,
    ValidationError,
)


def translate_error(exc: Exception) -> DomainError | None:
    if isinstance(exc, asyncpg.UniqueViolationError):
        detail = getattr(exc, "detail", "") or ""
        field = detail.split("(", 1)[1].split(")", 1)[0].split(",")[0].strip() if "(" in detail \
            else (getattr(exc, "column_name", None) or "value")
        return UniqueViolation(f"{field} already exists", details={"field": field})
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return ReferenceViolation("the record is referenced by, or refers to, another record")
    if isinstance(exc, asyncpg.CheckViolationError | asyncpg.NotNullViolationError):
        return ValidationError(f"value not allowed ({getattr(exc, 'constraint_name', None) or exc})")
    if isinstance(exc, asyncpg.DiskFullError):
        return InsufficientStorage("the database could not be written: disk full")
    return None


def _args(sql: str, params: Params) -> tuple[str, list[Any]]:
    text, names = to_numbered(sql)
    params = params or {}
    return text, [params[name] for name in names]


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except asyncpg.PostgresError as exc:
        domain = translate_error(exc)
        if domain is None:
            raise
        raise domain from exc


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PGExecutor(Executor):
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        text, args = _args(sql, params)
        async with _translated():
            return [dict(r) for r in await self._conn.fetch(text, *args)]

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        text, args = _args(sql, params)
        async with _translated():
            row = await self._conn.fetchrow(text, *args)
        return dict(row) if row is not None else None

    async def execute(self, sql: str, params: Params = None) -> int:
        text, args = _args(sql, params)
        async with _translated():
            return _rowcount(await self._conn.execute(text, *args))

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        text, names = to_numbered(sql)
        async with _translated():
            await self._conn.executemany(text, [[p[n] for n in names] for p in params])

    async def execute_script(self, script: str) -> None:
        async with _translated():
            await self._conn.execute(script)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=lambda v: json.dumps(v, ensure_ascii=False),
                                  decoder=json.loads, schema="pg_catalog")


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 10, *, statement_cache_size: int = 100,
                 application_name: str = "", session_url: str = "") -> None:
        self.url = url
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
                                               init=_init_connection, server_settings=self.server_settings,
                                               statement_cache_size=self._statement_cache_size)
        return self

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "database is not open"
        return self._pool

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        async with self.pool.acquire() as conn:
            return await _PGExecutor(conn).fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        async with self.pool.acquire() as conn:
            return await _PGExecutor(conn).fetch_one(sql, params)

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self.pool.acquire() as conn:
            return await _PGExecutor(conn).execute(sql, params)

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        async with self.transaction() as tx:
            await tx.execute_many(sql, params)

    async def execute_script(self, script: str) -> None:
        async with self.transaction() as tx:
            await tx.execute_script(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self.pool.acquire() as conn, _translated(), conn.transaction():
            yield _PGExecutor(conn)

    async def iterate(self, sql: str, params: Params = None, batch: int = 500) -> AsyncIterator[Row]:
        text, args = _args(sql, params)
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
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
