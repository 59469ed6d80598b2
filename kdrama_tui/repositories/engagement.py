"""What viewers leave behind: views (analytics) and comments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kdrama_tui.models import Comment, VideoView
from kdrama_tui.repositories.base import BaseRepository


class VideoAnalyticsRepository(BaseRepository[VideoView]):
    table = "video_analytics"
    model = VideoView

    async def insert_many(self, views: list[Mapping[str, Any]]) -> None:
        """Insert a batch of beacons in one transaction (executemany)."""
        if not views:
            return
        await self.db.execute_many(
            "INSERT INTO video_analytics (video_id, user_id, ip_address, user_agent, watch_duration, viewed_at) "
            "VALUES (:video_id, :user_id, :ip_address, :user_agent, :watch_duration, :viewed_at)", list(views))

    def _day(self) -> str:
        # Days are UTC calendar days; SQLite stores UTC text 'YYYY-MM-DD HH:MM:SS...'.
        if self.db.dialect == "postgresql":
            return "to_char(viewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        return "substr(viewed_at, 1, 10)"

    async def per_day(self, since: datetime, video_id: int | None = None) -> list[dict[str, Any]]:
        """``[{"day": "YYYY-MM-DD", "views", "watch_seconds"}]`` from ``since`` on, oldest first."""
        params: dict[str, Any] = {"since": since}
        where = "viewed_at >= :since"
        if video_id is not None:
            where += " AND video_id = :video_id"
            params["video_id"] = video_id
        day = self._day()
        rows = await self.db.fetch_all(
            f"SELECT {day} AS day, COUNT(*) AS views, COALESCE(SUM(watch_duration), 0) AS watch_seconds "
            f"FROM video_analytics WHERE {where} GROUP BY {day} ORDER BY day", params)
        return [{"day": r["day"], "views": int(r["views"]), "watch_seconds": int(r["watch_seconds"])}
                for r in rows]

    async def totals(self, video_id: int | None = None, since: datetime | None = None) -> dict[str, int]:
        clauses, params = [], {}
        if video_id is not None:
            clauses.append("video_id = :video_id")
            params["video_id"] = video_id
        if since is not None:
            clauses.append("viewed_at >= :since")
            params["since"] = since
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        row = await self.db.fetch_one(
            "SELECT COUNT(*) AS views, COALESCE(SUM(watch_duration), 0) AS watch_seconds, "
            f"COUNT(DISTINCT ip_address) AS viewers FROM video_analytics{where}", params)
        assert row is not None
        return {k: int(row[k]) for k in ("views", "watch_seconds", "viewers")}

    async def top_videos(self, since: datetime, limit: int = 10) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT a.video_id, v.title, COUNT(*) AS views, COALESCE(SUM(a.watch_duration), 0) AS watch_seconds "
            "FROM video_analytics a JOIN videos v ON v.id = a.video_id WHERE a.viewed_at >= :since "
            "GROUP BY a.video_id, v.title ORDER BY views DESC, a.video_id LIMIT :limit",
            {"since": since, "limit": limit})
        return [{"video_id": int(r["video_id"]), "title": r["title"], "views": int(r["views"]),
                 "watch_seconds": int(r["watch_seconds"])} for r in rows]


class CommentRepository(BaseRepository[Comment]):
    table = "comments"
    model = Comment
    not_found_message = "comment not found"

    async def find_by_video(self, video_id: int, *, approved_only: bool = True, limit: int = 100,
                            offset: int = 0) -> list[Comment]:
        filters: dict[str, object] = {"video_id": video_id}
        if approved_only:
            filters["is_approved"] = True
        return await self.list(filters, order_by="created_at DESC, id DESC", limit=limit, offset=offset)

    async def pending(self, *, limit: int = 100, offset: int = 0) -> list[Comment]:
        """The moderation queue, oldest first."""
        return await self.list({"is_approved": False}, order_by="created_at, id", limit=limit, offset=offset)
