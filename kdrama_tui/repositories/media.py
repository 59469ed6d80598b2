"""Files of a video and its transcoding jobs."""

from __future__ import annotations

from kdrama_tui.models import TranscodingJob, VideoFile
from kdrama_tui.repositories.base import BaseRepository


class VideoFileRepository(BaseRepository[VideoFile]):
    table = "video_files"
    model = VideoFile

    async def find_by_video(self, video_id: int, file_type: str | None = None) -> list[VideoFile]:
        filters: dict[str, object] = {"video_id": video_id}
        if file_type is not None:
            filters["file_type"] = file_type
        return await self.list(filters, order_by="id")


class TranscodingJobRepository(BaseRepository[TranscodingJob]):
    table = "transcoding_jobs"
    model = TranscodingJob
    not_found_message = "job not found"

    async def find_by_video(self, video_id: int) -> list[TranscodingJob]:
        return await self.list({"video_id": video_id}, order_by="id")

    async def find_by_status(self, status: str) -> list[TranscodingJob]:
        return await self.list({"status": status}, order_by="priority, created_at, id")
