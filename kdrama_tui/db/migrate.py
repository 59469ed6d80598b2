"""Versioned schema migrations.

Each version is one module in ``kdrama_tui/db/migrations/`` named ``NNNN_description.py`` holding the
SQL for both backends (``SQLITE`` and ``POSTGRESQL``). A version is applied in one transaction together
with its row in ``schema_migrations``, after re-checking under a lock that no other process applied it
meanwhile, so start-up, ``kdrama-tui migrate`` and a worker starting at once are all safe.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import UTC, datetime

from kdrama_tui.db import migrations as migrations_package
from kdrama_tui.db.base import Database

_LOCK_ID = 7_266_042  # arbitrary, stable: PostgreSQL advisory lock for migrations

_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
              "applied_at TEXT NOT NULL);",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, "
                  "applied_at TIMESTAMPTZ NOT NULL);",
}


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: dict[str, str]


def available_migrations() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(migrations_package.__path__):
        version, _, name = info.name.partition("_")
        if not version.isdigit():
            continue
        module = importlib.import_module(f"{migrations_package.__name__}.{info.name}")
        found.append(Migration(version, name, {"sqlite": module.SQLITE, "postgresql": module.POSTGRESQL}))
    return sorted(found, key=lambda m: m.version)


async def applied_versions(db: Database) -> set[str]:
    await db.execute_script(_TABLE[db.dialect])
    return {r["version"] for r in await db.fetch_all("SELECT version FROM schema_migrations")}


async def apply_migrations(db: Database) -> list[str]:
    """Apply every pending migration in order; return the versions applied now."""
    done = await applied_versions(db)
    applied: list[str] = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock(:id)", {"id": _LOCK_ID})
            if await tx.fetch_one("SELECT 1 FROM schema_migrations WHERE version = :v",
                                  {"v": migration.version}):
                continue  # another process got there first
            await tx.execute_script(migration.sql[db.dialect])
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)",
                {"v": migration.version, "n": migration.name, "t": datetime.now(UTC)},
            )
        applied.append(migration.version)
    return applied
