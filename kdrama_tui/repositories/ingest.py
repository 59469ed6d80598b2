"""What the watch-folder ingester took (``ingested_files``, migration 0006)."""

from __future__ import annotations

from typing import Any

from kdrama_tui.models import IngestedFile, utcnow
from kdrama_tui.repositories.base import BaseRepository


class IngestedFileRepository(BaseRepository[IngestedFile]):
    table = "ingested_files"
    model = IngestedFile

    async def record(self, data: dict[str, Any]) -> IngestedFile:
        """Insert, or refresh the row of the same (sha256, source_path): content imported again from the
        same place after its first video was deleted points at the new video."""
        data = {"ingested_at": utcnow(), **data}
        self._check_columns(list(data))
        names = ", ".join(data)
        values = ", ".join(f":{k}" for k in data)
        updates = ", ".join(f"{k} = excluded.{k}" for k in data if k not in ("sha256", "source_path"))
        row = await self.db.fetch_one(
            f"INSERT INTO ingested_files ({names}) VALUES ({values}) "
            f"ON CONFLICT (sha256, source_path) DO UPDATE SET {updates} RETURNING *", data)
        assert row is not None
        return self._row(row)  # type: ignore[return-value]

    async def find(self, sha256: str, source_path: str) -> IngestedFile | None:
        return await self.find_one_by(sha256=sha256, source_path=source_path)

    async def find_by_video(self, video_id: int) -> list[IngestedFile]:
        return await self.list({"video_id": video_id}, order_by="id")

    async def in_folder(self, folder: str) -> list[IngestedFile]:
        """Marks of files taken from inside ``folder`` (any depth), oldest first: a subtitle arriving after
        its video looks for that video here. A prefix comparison rather than LIKE, so the ``_`` and ``%``
        that folder names often hold need no escaping."""
        prefix = folder.rstrip("/") + "/"
        return self._rows(await self.db.fetch_all(
            "SELECT * FROM ingested_files WHERE substr(source_path, 1, :n) = :prefix ORDER BY id",
            {"n": len(prefix), "prefix": prefix}))
