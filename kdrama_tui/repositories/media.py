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

    # Storage migration: keyset pages of the rows still elsewhere, and a conditional switch.
    async def page_not_on(self, provider: str, after_id: int, limit: int) -> list[VideoFile]:
        rows = await self.db.fetch_all(
            "SELECT * FROM video_files WHERE storage_provider <> :provider AND id > :after_id "
            "ORDER BY id LIMIT :limit", {"provider": provider, "after_id": after_id, "limit": limit})
        return self._rows(rows)

    async def switch_provider(self, id: int, old: str, new: str) -> bool:
        """Point a row at ``new`` only if it still names ``old`` (a concurrent change or delete wins)."""
        changed = await self.db.execute(
            "UPDATE video_files SET storage_provider = :new WHERE id = :id AND storage_provider = :old",
            {"id": id, "old": old, "new": new})
        return changed > 0

    async def paths_on(self, provider: str) -> set[str]:
        rows = await self.db.fetch_all("SELECT file_path FROM video_files WHERE storage_provider = :provider",
                                       {"provider": provider})
        return {r["file_path"] for r in rows}

    async def totals_by_provider(self) -> dict[str, tuple[int, int]]:
        """``provider -> (files, bytes)``."""
        rows = await self.db.fetch_all(
            "SELECT storage_provider, COUNT(*) AS n, COALESCE(SUM(file_size), 0) AS total FROM video_files "
            "GROUP BY storage_provider")
        return {r["storage_provider"]: (int(r["n"]), int(r["total"])) for r in rows}


class TranscodingJobRepository(BaseRepository[TranscodingJob]):
    table = "transcoding_jobs"
    model = TranscodingJob
    not_found_message = "job not found"

    async def find_by_video(self, video_id: int) -> list[TranscodingJob]:
        return await self.list({"video_id": video_id}, order_by="id")

    async def find_by_status(self, status: str) -> list[TranscodingJob]:
        return await self.list({"status": status}, order_by="priority, created_at, id")
