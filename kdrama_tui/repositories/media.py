"""Files of a video and its transcoding jobs (the transcode queue's SQL lives here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from kdrama_tui.models import TranscodingJob, VideoFile
from kdrama_tui.repositories.base import BaseRepository

ACTIVE_JOB_STATUSES = ("queued", "processing")
# What the pipeline produces; re-transcoding replaces exactly these rows (never originals or sources).
GENERATED_FILE_TYPES = ("master_playlist", "subtitle", "thumbnail", "sprite", "sprite_vtt", "playlist")


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with ``prefix`` (its ``%``, ``_`` and ``\\`` taken literally)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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

    # Orphan sweep: which storage folders rows still point into (any provider: a half-finished storage
    # migration may have a row naming the other copy).
    async def paths_starting(self, prefix: str, *, page_size: int = 5000) -> AsyncIterator[str]:
        """Every ``file_path`` that starts with ``prefix``, fetched a page at a time (keyset on id)."""
        after_id = 0
        while True:
            rows = await self.db.fetch_all(
                "SELECT id, file_path FROM video_files WHERE file_path LIKE :pattern ESCAPE '\\' AND id > :after_id "
                "ORDER BY id LIMIT :limit", {"pattern": _like_prefix(prefix), "after_id": after_id,
                                             "limit": page_size})
            for row in rows:
                yield row["file_path"]
            if len(rows) < page_size:
                return
            after_id = int(rows[-1]["id"])

    async def any_under(self, prefix: str) -> bool:
        """Whether any row's ``file_path`` starts with ``prefix`` (checked again right before a delete)."""
        row = await self.db.fetch_one(
            "SELECT 1 AS found FROM video_files WHERE file_path LIKE :pattern ESCAPE '\\' LIMIT 1",
            {"pattern": _like_prefix(prefix)})
        return row is not None

    async def totals_by_provider(self) -> dict[str, tuple[int, int]]:
        """``provider -> (files, bytes)``."""
        rows = await self.db.fetch_all(
            "SELECT storage_provider, COUNT(*) AS n, COALESCE(SUM(file_size), 0) AS total FROM video_files "
            "GROUP BY storage_provider")
        return {r["storage_provider"]: (int(r["n"]), int(r["total"])) for r in rows}

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows of the same columns in one batch (a ladder has hundreds of segments)."""
        if not rows:
            return
        names = list(rows[0])
        self._check_columns(names)
        sql = (f"INSERT INTO video_files ({', '.join(names)}) "
               f"VALUES ({', '.join(':' + n for n in names)})")
        await self.db.execute_many(sql, [dict(r) for r in rows])

    async def delete_generated(self, video_id: int) -> int:
        """Remove the rows of everything a transcode produced for a video (before recording a new set)."""
        kinds = ", ".join(f"'{k}'" for k in GENERATED_FILE_TYPES)  # constants, not input
        return await self.db.execute(
            f"DELETE FROM video_files WHERE video_id = :v AND (file_type IN ({kinds}) "
            "OR file_type LIKE 'transcoded\\_%' ESCAPE '\\')", {"v": video_id})


class TranscodingJobRepository(BaseRepository[TranscodingJob]):
    table = "transcoding_jobs"
    model = TranscodingJob
    not_found_message = "job not found"

    async def find_by_video(self, video_id: int) -> list[TranscodingJob]:
        return await self.list({"video_id": video_id}, order_by="id")

    async def queue(self, video_id: int, *, priority: int, provider: str, retry_of: TranscodingJob | None = None,
                    run_after: datetime | None = None) -> TranscodingJob:
        """Insert a queued job: the one place a job row is built (hand-off, manual re-queue, retry).

        A retry carries its predecessor's attempt number plus one and points back at it."""
        row: dict[str, Any] = {"video_id": video_id, "status": "queued", "provider": provider,
                               "priority": priority, "progress": 0}
        if retry_of is not None:
            row.update(attempt=retry_of.attempt + 1, retry_of_id=retry_of.id)
        if run_after is not None:
            row["run_after"] = run_after
        return await self.create(row)

    async def find_by_status(self, status: str) -> list[TranscodingJob]:
        return await self.list({"status": status}, order_by="priority, created_at, id")

    async def active_for_video(self, video_id: int) -> TranscodingJob | None:
        return self._row(await self.db.fetch_one(
            "SELECT * FROM transcoding_jobs WHERE video_id = :v AND status IN ('queued', 'processing') "
            "ORDER BY id LIMIT 1", {"v": video_id}))

    async def queue_listing(self, statuses: Sequence[str] = (), video_id: int | None = None,
                            limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs in the order the admin reads a queue: running, then queued by priority and age, then the
        finished ones newest first. Each row carries its video's title."""
        clauses, params = [], {"limit": int(limit), "offset": int(offset)}
        if statuses:
            keys = [f"s{i}" for i in range(len(statuses))]
            params.update(dict(zip(keys, statuses, strict=True)))
            clauses.append(f"j.status IN ({', '.join(':' + k for k in keys)})")
        if video_id is not None:
            clauses.append("j.video_id = :video_id")
            params["video_id"] = video_id
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return await self.db.fetch_all(
            "SELECT j.*, v.title AS video_title FROM transcoding_jobs j JOIN videos v ON v.id = j.video_id"
            f"{where} ORDER BY CASE j.status WHEN 'processing' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, "
            "CASE WHEN j.status IN ('processing', 'queued') THEN j.priority ELSE 0 END, "
            "CASE WHEN j.status IN ('processing', 'queued') THEN j.id ELSE -j.id END "
            "LIMIT :limit OFFSET :offset", params)

    async def claim_next(self, worker_id: str, now: datetime, lease_until: datetime) -> TranscodingJob | None:
        """Take the next due job: queued (and past its backoff) or abandoned (its lease expired).

        Must run inside a transaction: on PostgreSQL the row is locked with ``FOR UPDATE SKIP LOCKED`` so
        concurrent claimers skip it; on SQLite the transaction's ``BEGIN IMMEDIATE`` serialises claimers.
        """
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        row = await self.db.fetch_one(
            "SELECT * FROM transcoding_jobs "
            "WHERE (status = 'queued' AND (run_after IS NULL OR run_after <= :now)) "
            "   OR (status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at < :now)) "
            f"ORDER BY priority, created_at, id LIMIT 1{lock}", {"now": now})
        if row is None:
            return None
        return self._row(await self.db.fetch_one(
            "UPDATE transcoding_jobs SET status = 'processing', worker_id = :w, lease_expires_at = :until, "
            "heartbeat_at = :now, started_at = :now, progress = 0, claims = claims + 1, completed_at = NULL "
            "WHERE id = :id RETURNING *", {"w": worker_id, "until": lease_until, "now": now, "id": row["id"]}))

    async def touch(self, job_id: int, worker_id: str, now: datetime, lease_until: datetime,
                    progress: int | None = None, ladder: dict[str, Any] | None = None) -> bool:
        """Renew the lease (and record progress and the ladder's state); False when the job is no longer
        this worker's (cancelled, deleted with its video, or taken over after a missed lease)."""
        extra = ", progress = :progress" if progress is not None else ""
        params: dict[str, Any] = {"id": job_id, "w": worker_id, "now": now, "until": lease_until}
        if progress is not None:
            params["progress"] = max(0, min(100, int(progress)))
        if ladder is not None:
            extra += ", ladder = :ladder"
            params["ladder"] = ladder
        changed = await self.db.execute(
            f"UPDATE transcoding_jobs SET heartbeat_at = :now, lease_expires_at = :until{extra} "
            "WHERE id = :id AND worker_id = :w AND status = 'processing'", params)
        return changed > 0

    async def finish_held(self, job_id: int, worker_id: str, values: Mapping[str, Any]) -> TranscodingJob | None:
        """Move a job this worker holds to a final state; None if it no longer holds it."""
        data = {**values, "worker_id": None, "lease_expires_at": None}
        self._check_columns(list(data))
        assignments = ", ".join(f"{k} = :{k}" for k in data)
        return self._row(await self.db.fetch_one(
            f"UPDATE transcoding_jobs SET {assignments} WHERE id = :id AND worker_id = :held_by "
            "AND status = 'processing' RETURNING *", {**data, "id": job_id, "held_by": worker_id}))

    async def release(self, job_id: int, worker_id: str) -> bool:
        """Give a held job back to the queue untouched (graceful shutdown): another worker starts it now."""
        return await self.db.execute(
            "UPDATE transcoding_jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL, "
            "progress = 0, started_at = NULL WHERE id = :id AND worker_id = :w AND status = 'processing'",
            {"id": job_id, "w": worker_id}) > 0

    async def cancel(self, job_id: int, now: datetime) -> TranscodingJob | None:
        return self._row(await self.db.fetch_one(
            "UPDATE transcoding_jobs SET status = 'cancelled', completed_at = :now, worker_id = NULL, "
            "lease_expires_at = NULL WHERE id = :id AND status IN ('queued', 'processing') RETURNING *",
            {"id": job_id, "now": now}))

    async def relay_snapshot(self, after_id: int) -> list[TranscodingJob]:
        """What the job relay compares between polls: every queued or running job plus any newer one (a job
        that ran to its end between two polls). Partial rows: the columns the relay needs, from the status
        index and the primary key."""
        return self._rows(await self.db.fetch_all(
            "SELECT id, video_id, status, worker_id, progress, attempt, started_at, retry_of_id, run_after, ladder "
            "FROM transcoding_jobs WHERE status IN ('queued', 'processing') OR id > :after ORDER BY id",
            {"after": after_id}))

    async def max_id(self) -> int:
        row = await self.db.fetch_one("SELECT MAX(id) AS m FROM transcoding_jobs")
        return int(row["m"]) if row and row["m"] is not None else 0

    async def set_priority(self, job_id: int, priority: int) -> TranscodingJob | None:
        return self._row(await self.db.fetch_one(
            "UPDATE transcoding_jobs SET priority = :p WHERE id = :id AND status = 'queued' RETURNING *",
            {"id": job_id, "p": priority}))
