"""SQLite backend (aiosqlite).

One writer connection, serialised by an asyncio lock, takes every write and transaction with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing with "database is locked"; a separate
reader connection serves plain SELECTs from WAL snapshots without waiting for writers. Other processes
(a ``kdrama-tui worker``) are handled by ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from kdrama_tui.db.base import Database, Executor, Params, Row
from kdrama_tui.errors import (
    DomainError,
    InsufficientStorage,
    ReferenceViolation,
    UniqueViolation,
    ValidationError,
)

SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_READ_ONLY = re.compile(r"^\s*(SELECT|PRAGMA|EXPLAIN)\b", re.IGNORECASE)


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime passed to the database; use an aware UTC datetime")
        return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):  # a calendar date (datetime was handled above): ISO text
        return value.isoformat()
    return value


def _params(params: Params) -> dict[str, Any]:
    return {k: _param(v) for k, v in (params or {}).items()}


def translate_error(exc: sqlite3.Error) -> DomainError | None:
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if message.startswith("UNIQUE constraint failed"):
            columns = message.split(":", 1)[1].strip()
            field = columns.split(",")[0].split(".")[-1].strip()
            return UniqueViolation(f"{field} already exists", details={"field": field})
        if "FOREIGN KEY" in message:
            return ReferenceViolation("the record is referenced by, or refers to, another record")
        if message.startswith(("CHECK constraint failed", "NOT NULL constraint failed")):
            detail = message.split(":", 1)[-1].strip()
            column = re.match(r"[\w.]+", detail)
            return ValidationError(f"value not allowed for {column.group(0) if column else 'a column'}")
    if isinstance(exc, sqlite3.OperationalError) and ("disk is full" in message or "disk I/O" in message):
        return InsufficientStorage(f"the database could not be written: {message}")
    return None


class _SQLiteExecutor(Executor):
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # A statement runs and is fetched to its end in one call on the connection's thread. Executed and then
    # fetched in two calls, it would stay active in between, and on the shared reader connection other
    # requests' SELECTs run in the meantime would join its read transaction and see its (older) snapshot:
    # a PATCH then read the offset from before the previous PATCH committed (409 offset_mismatch).
    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        async with _translated():
            return [dict(r) for r in await self._conn.execute_fetchall(sql, _params(params))]

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        async with _translated():
            rows = await self._conn.execute_fetchall(sql, _params(params))
        return dict(rows[0]) if rows else None

    async def execute(self, sql: str, params: Params = None) -> int:
        async with _translated(), self._conn.execute(sql, _params(params)) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        async with _translated():
            await self._conn.executemany(sql, [_params(p) for p in params])

    async def execute_script(self, script: str) -> None:
        # executescript() would COMMIT the open transaction; run statement by statement instead.
        for statement in split_statements(script):
            async with _translated():
                await self._conn.execute(statement)


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (trigger bodies with inner ';' stay whole)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(line.strip().startswith("--") or not line.strip() for line in current.splitlines()):
        raise ValueError(f"incomplete SQL statement at the end of a script: {current.strip()[:80]}")
    return statements


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        domain = translate_error(exc)
        if domain is None:
            raise
        raise domain from exc


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str, path: Path, synchronous: str = "FULL", busy_timeout_ms: int = 10000) -> None:
        self.url = url
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def open(self, check: bool = True) -> SQLiteDatabase:
        try:
            return await self._open(check)
        except BaseException:
            await self.close()  # an open aiosqlite thread would keep the process alive
            raise

    async def _open(self, check: bool) -> SQLiteDatabase:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        async with self._writer.execute("PRAGMA journal_mode = WAL") as cursor:
            mode = (await cursor.fetchone())[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode for {self.path} (got {mode}); use a local filesystem")
        if check:
            async with self._writer.execute("PRAGMA quick_check") as cursor:
                result = [r[0] for r in await cursor.fetchall()]
            if result != ["ok"]:
                raise RuntimeError(f"database {self.path} is damaged ({'; '.join(result[:3])}); "
                                   "restore it with `kdrama-tui backup restore FILE`")
        self._reader = await self._connect()
        return self

    @property
    def writer(self) -> aiosqlite.Connection:
        assert self._writer is not None, "database is not open"
        return self._writer

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        if _READ_ONLY.match(sql) and self._reader is not None:
            return await _SQLiteExecutor(self._reader).fetch_all(sql, params)
        async with self._write_lock:
            return await _SQLiteExecutor(self.writer).fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        if _READ_ONLY.match(sql) and self._reader is not None:
            return await _SQLiteExecutor(self._reader).fetch_one(sql, params)
        async with self._write_lock:
            return await _SQLiteExecutor(self.writer).fetch_one(sql, params)

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self._write_lock:
            return await _SQLiteExecutor(self.writer).execute(sql, params)

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        async with self.transaction() as tx:
            await tx.execute_many(sql, params)

    async def execute_script(self, script: str) -> None:
        async with self.transaction() as tx:
            await tx.execute_script(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._write_lock:
            conn = self.writer
            async with _translated():
                await conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteExecutor(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                async with _translated():
                    await conn.execute("COMMIT")

    async def iterate(self, sql: str, params: Params = None, batch: int = 500) -> AsyncIterator[Row]:
        conn = await self._connect()
        try:
            async with conn.execute(sql, _params(params)) as cursor:
                while rows := await cursor.fetchmany(batch):
                    for row in rows:
                        yield dict(row)
        finally:
            await conn.close()

    async def health(self) -> None:
        await self.fetch_value("SELECT 1")

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None
