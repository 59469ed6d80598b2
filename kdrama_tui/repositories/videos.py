"""VideoRepository: the design's finders by uploader and status."""

from __future__ import annotations

from kdrama_tui.models import Video
from kdrama_tui.repositories.base import BaseRepository


class VideoRepository(BaseRepository[Video]):
    table = "videos"
    model = Video
    not_found_message = "video not found"

    async def find_by_uploader(self, user_id: int, *, limit: int | None = None, offset: int = 0) -> list[Video]:
        return await self.list({"uploader_user_id": user_id}, order_by="created_at DESC, id DESC",
                               limit=limit, offset=offset)

    async def find_by_status(self, status: str, *, limit: int | None = None, offset: int = 0) -> list[Video]:
        return await self.list({"status": status}, order_by="created_at DESC, id DESC",
                               limit=limit, offset=offset)

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.db.fetch_all("SELECT status, COUNT(*) AS n FROM videos GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}
