"""Upload sessions and their chunks."""

from __future__ import annotations

from kdrama_tui.models import Upload, UploadChunk
from kdrama_tui.repositories.base import BaseRepository


class UploadRepository(BaseRepository[Upload]):
    table = "uploads"
    model = Upload
    not_found_message = "upload not found"

    async def find_by_user(self, user_id: int) -> list[Upload]:
        return await self.list({"user_id": user_id}, order_by="id DESC")

    async def find_by_status(self, status: str) -> list[Upload]:
        return await self.list({"status": status}, order_by="id")


class UploadChunkRepository(BaseRepository[UploadChunk]):
    table = "upload_chunks"
    model = UploadChunk

    async def find_by_upload(self, upload_id: int) -> list[UploadChunk]:
        return await self.list({"upload_id": upload_id}, order_by="chunk_number")

    async def find_chunk(self, upload_id: int, chunk_number: int) -> UploadChunk | None:
        return await self.find_one_by(upload_id=upload_id, chunk_number=chunk_number)
