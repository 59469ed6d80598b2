"""Upload sessions and their chunks (parts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kdrama_tui.models import Upload, UploadChunk
from kdrama_tui.repositories.base import BaseRepository


def _in(names: Sequence[str], prefix: str) -> tuple[str, dict[str, Any]]:
    keys = [f"{prefix}{i}" for i in range(len(names))]
    return ", ".join(f":{k}" for k in keys), dict(zip(keys, names, strict=True))


class UploadRepository(BaseRepository[Upload]):
    table = "uploads"
    model = Upload
    not_found_message = "upload not found"

    async def find_by_user(self, user_id: int) -> list[Upload]:
        return await self.list({"user_id": user_id}, order_by="id DESC")

    async def find_by_status(self, status: str) -> list[Upload]:
        return await self.list({"status": status}, order_by="id")

    async def find_by_token(self, token: str) -> Upload | None:
        return self._row(await self.db.fetch_one("SELECT * FROM uploads WHERE token = :t", {"t": token}))

    async def lock(self, upload_id: int) -> Upload | None:
        """Read a session inside a transaction, keeping others from changing it until commit.

        SQLite transactions already hold the database's write lock (BEGIN IMMEDIATE); PostgreSQL needs a
        row lock so that parallel chunk writes update ``uploaded_chunks`` one after the other.
        """
        sql = "SELECT * FROM uploads WHERE id = :id"
        if self.db.dialect == "postgresql":
            sql += " FOR UPDATE"
        return self._row(await self.db.fetch_one(sql, {"id": upload_id}))

    async def find_in_statuses(self, statuses: Sequence[str]) -> list[Upload]:
        return await self.list({"status": list(statuses)}, order_by="created_at, id")

    async def find_expired(self, statuses: Sequence[str], now: datetime) -> list[Upload]:
        placeholders, params = _in(statuses, "s")
        rows = await self.db.fetch_all(
            f"SELECT * FROM uploads WHERE status IN ({placeholders}) AND expires_at IS NOT NULL "
            "AND expires_at < :now ORDER BY expires_at, id", {**params, "now": now})
        return self._rows(rows)

    async def transition(self, upload_id: int, from_statuses: Sequence[str], changes: dict[str, Any],
                         *, expired_before: datetime | None = None) -> Upload | None:
        """Apply ``changes`` only if the session is still in one of ``from_statuses`` (and, when
        ``expired_before`` is given, still expired): a stale caller can never undo newer state."""
        self._check_columns(list(changes))
        placeholders, params = _in(from_statuses, "f")
        assignments = ", ".join(f"{k} = :c_{k}" for k in changes)
        params.update({f"c_{k}": v for k, v in changes.items()})
        sql = f"UPDATE uploads SET {assignments} WHERE id = :id AND status IN ({placeholders})"
        if expired_before is not None:
            sql += " AND expires_at < :expired_before"
            params["expired_before"] = expired_before
        row = await self.db.fetch_one(sql + " RETURNING *", {**params, "id": upload_id})
        return self._row(row)

    async def outstanding_bytes(self, statuses: Sequence[str]) -> int:
        """Bytes that sessions in ``statuses`` have announced but not sent yet (reserved disk space)."""
        placeholders, params = _in(statuses, "s")
        value = await self.db.fetch_value(
            f"SELECT coalesce(sum(total_size - bytes_received), 0) AS n FROM uploads "
            f"WHERE status IN ({placeholders})", params)
        return int(value or 0)

    async def list_with_usernames(self, statuses: Sequence[str]) -> list[tuple[Upload, str]]:
        placeholders, params = _in(statuses, "s")
        rows = await self.db.fetch_all(
            f"SELECT uploads.*, users.username AS owner_username FROM uploads "
            f"JOIN users ON users.id = uploads.user_id WHERE uploads.status IN ({placeholders}) "
            "ORDER BY uploads.created_at, uploads.id", params)
        return [(self.model.from_row(r), r["owner_username"]) for r in rows]  # type: ignore[misc]


class UploadChunkRepository(BaseRepository[UploadChunk]):
    table = "upload_chunks"
    model = UploadChunk

    async def find_by_upload(self, upload_id: int) -> list[UploadChunk]:
        return await self.list({"upload_id": upload_id}, order_by="chunk_number")

    async def find_chunk(self, upload_id: int, chunk_number: int) -> UploadChunk | None:
        return await self.find_one_by(upload_id=upload_id, chunk_number=chunk_number)

    async def verified(self, upload_id: int) -> list[UploadChunk]:
        return await self.list({"upload_id": upload_id, "status": "verified"}, order_by="chunk_number")
