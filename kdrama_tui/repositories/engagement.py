"""What viewers leave behind: views (analytics) and comments."""

from __future__ import annotations

from kdrama_tui.models import Comment, VideoView
from kdrama_tui.repositories.base import BaseRepository


class VideoAnalyticsRepository(BaseRepository[VideoView]):
    table = "video_analytics"
    model = VideoView


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
