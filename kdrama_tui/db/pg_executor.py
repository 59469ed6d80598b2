"""Statements on one asyncpg connection: ``:name`` placeholders bound as numbered parameters, JSON(B)
decoded to Python, PostgreSQL errors turned into the domain's (shared by the primary's pool and a replica's)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from kdrama_tui.db.base import Executor, Params, Row
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


def args_of(sql: str, params: Params) -> tuple[str, list[Any]]:
    text, names = to_numbered(sql)
    params = params or {}
    return text, [params[name] for name in names]


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
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


class PGExecutor(Executor):
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        text, args = args_of(sql, params)
        async with translated():
            return [dict(r) for r in await self._conn.fetch(text, *args)]

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        text, args = args_of(sql, params)
        async with translated():
            row = await self._conn.fetchrow(text, *args)
        return dict(row) if row is not None else None

    async def execute(self, sql: str, params: Params = None) -> int:
        text, args = args_of(sql, params)
        async with translated():
            return _rowcount(await self._conn.execute(text, *args))

    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None:
        text, names = to_numbered(sql)
        async with translated():
            await self._conn.executemany(text, [[p[n] for n in names] for p in params])

    async def execute_script(self, script: str) -> None:
        async with translated():
            await self._conn.execute(script)


async def init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=lambda v: json.dumps(v, ensure_ascii=False),
                                  decoder=json.loads, schema="pg_catalog")
