"""Publishing a job's outputs: the playable first part while the job runs, then everything at its end.

Files go to storage before the rows that name them, the master playlist last, so a player that finds the
master finds everything it lists. A partial publish (the copied top rendition, see
:mod:`kdrama_tui.media.source_copy`) records its files and marks the video ``ready``; the final one
replaces every generated row with the complete set, keeping the files already published unless the
transcoder made them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.media.transcoder import OutputFile, TranscodeResult
from kdrama_tui.models import TranscodingJob, Video, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

ERROR_MESSAGE_LIMIT = 4000


class StopJob(Exception):
    """The job is no longer this worker's: cancelled, deleted or taken over."""


@dataclass
class Run:
    job: TranscodingJob
    task: asyncio.Task[None] | None = None
    work: Path | None = None
    fraction: float = 0.0
    stop_reason: str | None = None  # "cancelled", "deleted", "lost" when the heartbeat stops the work
    written_progress: int = -1
    finished: dict[str, Any] = field(default_factory=dict)
    ladder: dict[str, Any] | None = None  # the transcoder's latest LadderState
    written_ladder: dict[str, Any] | None = None
    early_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> row published while running


class Publisher:
    def __init__(self, db: Database, storage: Storage, events: EventBus, worker_id: str,
                 lease: Callable[[], timedelta]) -> None:
        self.db = db
        self.storage = storage
        self.events = events
        self.worker_id = worker_id
        self.lease = lease

    async def store(self, run: Run, video: Video, files: list[OutputFile]) -> list[tuple[str, dict[str, Any]]]:
        """Hand the files to storage (the master playlist last: a player that finds it finds everything it
        lists); files already published while the job ran, and not made again since, keep their rows."""
        assert run.work is not None
        hls_dir = run.work / "hls"
        prefix = keys.hls_folder(video.id)
        rows = []
        for f in sorted(files, key=lambda f: f.file_type == "master_playlist"):
            early = run.early_rows.get(f.path)
            if early is not None and not (hls_dir / f.path).exists():
                rows.append((f.path, early))
                continue
            stored = await self.storage.put_file(prefix + f.path, hls_dir / f.path, move=True)
            rows.append((f.path, {
                "video_id": video.id, "file_type": f.file_type, "storage_provider": self.storage.provider,
                "file_path": stored.key, "file_size": stored.size, "checksum": stored.sha256,
                "mime_type": f.mime_type, "language": f.language, "label": f.label}))
        return rows

    async def partial(self, run: Run, video: Video, files: list[OutputFile], duration: float) -> None:
        """Make the video playable with the renditions finished so far, while the job goes on."""
        job = run.job
        now = utcnow()
        if not await repos_of(self.db).jobs.touch(job.id, self.worker_id, now, now + self.lease()):
            raise StopJob("the job was taken away before publishing")
        stored = await self.store(run, video, files)
        rows = [row for _path, row in stored]
        try:
            async with self.db.transaction() as tx:
                now = utcnow()
                if not await repos_of(tx).jobs.touch(job.id, self.worker_id, now, now + self.lease(),
                                                     ladder=run.ladder):
                    raise StopJob("the job was taken away while publishing")
                await repos_of(tx).video_files.delete_generated(video.id)
                await repos_of(tx).video_files.create_many(rows)
                await repos_of(tx).videos.update(video.id, {"status": "ready", "missing_reason": None,
                                                        "duration_seconds": max(1, round(duration))})
        except BaseException:
            if await repos_of(self.db).videos.find_by_id(video.id) is None:  # deleted mid-job: leave no orphans
                await self.storage.delete_prefix(keys.video_folder(video.id))
            raise
        run.written_ladder = run.ladder
        run.early_rows.update(stored)
        summary = rendition_summary(run.ladder)
        log.info("job %d: video %d playable with %s while the rest is encoded", job.id, video.id,
                 "/".join(summary["renditions_ready"]) or "its first rendition")
        self.events.publish("video.updated", video_id=video.id, playable=True, **summary)
        self.events.publish("job.ladder", job_id=job.id, video_id=video.id, **summary)

    async def final(self, run: Run, video: Video, result: TranscodeResult) -> None:
        job = run.job
        now = utcnow()
        if not await repos_of(self.db).jobs.touch(job.id, self.worker_id, now, now + self.lease()):
            raise StopJob("the job was taken away before publishing")
        prefix = keys.hls_folder(video.id)
        rows = [row for _path, row in await self.store(run, video, result.files)]
        try:
            async with self.db.transaction() as tx:
                done = await repos_of(tx).jobs.finish_held(job.id, self.worker_id, {
                    "status": "completed", "progress": 100, "completed_at": utcnow(),
                    "input_format": result.input_format, "output_formats": result.renditions,
                    "warnings": result.warnings or None, "job_id": result.external_id, "ladder": run.ladder,
                    "error_message": "; ".join(result.warnings)[:ERROR_MESSAGE_LIMIT] or None})
                if done is None:
                    raise StopJob("the job was taken away while publishing")
                await repos_of(tx).video_files.delete_generated(video.id)
                await repos_of(tx).video_files.create_many(rows)
                await repos_of(tx).videos.update(video.id, {"status": "ready", "missing_reason": None,
                                                        "duration_seconds": max(1, round(result.duration))})
        except BaseException:
            if await repos_of(self.db).videos.find_by_id(video.id) is None:  # deleted mid-job: leave no orphans
                await self.storage.delete_prefix(keys.video_folder(video.id))
            raise
        keep = {row["file_path"] for row in rows}
        for key in await self.storage.list(prefix):  # files of an earlier, bigger ladder
            if key not in keep:
                await self.storage.delete(key)
        run.finished = {"renditions": result.renditions, "duration": result.duration, "warnings": result.warnings}
        log.info("job %d: video %d ready (%s)", job.id, video.id, "/".join(result.renditions))


def rendition_summary(ladder: dict[str, Any] | None) -> dict[str, Any]:
    """For ``job.ladder`` events: the path and why, the encoder, which renditions are playable and how far
    the others are."""
    if not ladder:
        return {"path": None, "reason": "", "encoder": None, "renditions_ready": [], "renditions_progress": {}}
    renditions = ladder.get("renditions") or []
    return {"path": ladder.get("path"), "reason": ladder.get("reason", ""), "encoder": ladder.get("encoder"),
            "renditions_ready": [r["name"] for r in renditions if r.get("ready")],
            "renditions_progress": {r["name"]: r.get("progress", 0) for r in renditions if not r.get("ready")}}
