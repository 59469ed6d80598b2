"""Aggregate queries for the admin dashboard (counts, sums, views per day) across several tables."""

from __future__ import annotations

from kdrama_tui.db.base import Executor
from kdrama_tui.models import Comment, TranscodingJob


class StatsRepository:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def count_by(self, table: str, column: str) -> dict[str, int]:
        if (table, column) not in {("videos", "status"), ("transcoding_jobs", "status"), ("uploads", "status")}:
            raise ValueError(f"no count for {table}.{column}")
        rows = await self.db.fetch_all(f"SELECT {column} AS k, COUNT(*) AS n FROM {table} GROUP BY {column}")
        return {str(r["k"]): int(r["n"]) for r in rows}

    async def active_jobs(self, limit: int = 50) -> list[tuple[TranscodingJob, str]]:
        """Transcodes running now, with their video's title."""
        rows = await self.db.fetch_all(
            "SELECT j.*, v.title AS video_title FROM transcoding_jobs j JOIN videos v ON v.id = j.video_id "
            "WHERE j.status = 'processing' ORDER BY j.started_at, j.id LIMIT :limit", {"limit": limit})
        return [(TranscodingJob.from_row(r), str(r["video_title"])) for r in rows]

    async def stored_bytes(self) -> dict[str, dict[str, int]]:
        """Bytes and files recorded per storage provider."""
        rows = await self.db.fetch_all(
            "SELECT storage_provider AS p, COALESCE(SUM(file_size), 0) AS b, COUNT(*) AS n "
            "FROM video_files GROUP BY storage_provider")
        return {str(r["p"]): {"bytes": int(r["b"]), "files": int(r["n"])} for r in rows}

    async def comments(self, approved: bool | None, limit: int = 500) -> list[tuple[Comment, str, str | None]]:
        """Comments newest first with their video's title and author's username (None: anonymous)."""
        where, params = "", {"limit": limit}
        if approved is not None:
            where, params["approved"] = " WHERE c.is_approved = :approved", approved
        rows = await self.db.fetch_all(
            "SELECT c.*, v.title AS video_title, u.username AS author FROM comments c "
            "JOIN videos v ON v.id = c.video_id LEFT JOIN users u ON u.id = c.user_id"
            f"{where} ORDER BY c.created_at DESC, c.id DESC LIMIT :limit", params)
        return [(Comment.from_row(r), str(r["video_title"]), r["author"]) for r in rows]
