"""What the nodes of a cluster share in the database (``cluster_secrets``, migration 0013): name -> value."""

from __future__ import annotations

from kdrama_tui.db.base import Executor
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
