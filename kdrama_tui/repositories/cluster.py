"""What the nodes of a cluster share in the database: ``cluster_secrets`` (migration 0013, name -> value), and
what PostgreSQL knows of the nodes themselves (their sessions and cluster locks)."""

from __future__ import annotations

from kdrama_tui.db.base import Executor
from kdrama_tui.db.locks import lock_key
from kdrama_tui.models import utcnow


class ClusterSecretRepository:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def get(self, name: str) -> str | None:
        value = await self.db.fetch_value("SELECT value FROM cluster_secrets WHERE name = :name", {"name": name})
        return None if value is None else str(value)

    async def first(self, name: str, value: str) -> str:
        """Store ``value`` unless a value is stored already; returns the stored one (the first writer's)."""
        await self.db.execute(
            "INSERT INTO cluster_secrets (name, value, updated_at) VALUES (:name, :value, :now) "
            "ON CONFLICT (name) DO NOTHING", {"name": name, "value": value, "now": utcnow()})
        stored = await self.get(name)
        assert stored is not None
        return stored

    async def put(self, name: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO cluster_secrets (name, value, updated_at) VALUES (:name, :value, :now) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            {"name": name, "value": value, "now": utcnow()})


class ClusterSessionRepository:
    """Who is connected (PostgreSQL's ``pg_stat_activity``) and who holds which cluster lock (``pg_locks``)."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    async def processes(self) -> list[str]:
        """The ``application_name`` of every kdrama-tui session on this database (none on SQLite)."""
        if self.db.dialect != "postgresql":
            return []
        rows = await self.db.fetch_all(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'kdrama-tui %' ORDER BY application_name")
        return [r["application_name"] for r in rows]

    async def lock_holder(self, name: str) -> str | None:
        """The ``application_name`` of the session holding the cluster lock ``name`` (None: nobody, or SQLite)."""
        if self.db.dialect != "postgresql":
            return None
        return await self.db.fetch_value(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:key::bigint & x'ffffffffffffffff'::bigint)",
            {"key": lock_key(name)})
