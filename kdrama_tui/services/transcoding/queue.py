"""The transcode queue: durable, priority-ordered, leased, retried, shared by any number of workers.

Every state lives in ``transcoding_jobs`` so the server, ``kdrama-tui worker`` processes and a restarted
process all see one queue:

- Claiming is one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite):
  the next queued job by priority (1 first) then age, or one whose lease expired.
- The holder renews its lease (``lease_expires_at``) about once a second together with the progress. If the
  renewal finds the job is no longer its own (cancelled by an admin, deleted with its video, or taken over
  after this worker stalled) it stops ffmpeg at once and removes its partial output.
- Outputs are built in a private folder under ``work_dir`` and published to storage only when complete, the
  master playlist last; then one transaction records every file, completes the job and marks the video
  ``ready``. A failure is recorded with ffmpeg's last stderr lines and retried as a NEW job row after
  ``retry_backoff_seconds`` (doubling) until ``max_attempts``; then the video is ``failed``. A bad original
  fails at once: retrying cannot make it playable.
- The queue wakes on ``job.queued`` events of this process and polls the database every ``poll_seconds`` for
  jobs other processes queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.media.errors import InputError, MediaError
from kdrama_tui.media.transcoder import OutputFile, SidecarInput, Transcoder, TranscodeRequest
from kdrama_tui.models import TranscodingJob, VideoFile, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.transcoding.publish import ERROR_MESSAGE_LIMIT, Publisher, Run, StopJob, rendition_summary
from kdrama_tui.storage import Storage

log = logging.getLogger(__name__)

JOB_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
MAX_CLAIMS = 3  # a job whose worker died this many times is failed rather than taken over again
PROGRESS_INTERVAL = 1.0  # seconds between progress writes/events (and lease renewals)



class MediaQueue:
    def __init__(self, *, db: Database, storage: Storage, storages: Mapping[str, Storage], events: EventBus,
                 settings: Settings, transcoders: dict[str, Transcoder], worker_id: str | None = None) -> None:
        self.db = db
        self.storage = storage
        self.storages = storages
        self.events = events
        self.settings = settings
        self.transcode = settings.transcode
        self.transcoders = transcoders
        self.worker_id = worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.work_root = settings.work_dir / "transcode"
        self.publisher = Publisher(db, storage, events, self.worker_id, lambda: self.lease)
        self._wake = asyncio.Event()
        self._running: dict[int, Run] = {}

    # ---- running ---------------------------------------------------------------------------------------------
    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.transcode.lease_seconds)

    async def run(self) -> None:
        """Run forever, keeping up to ``concurrency`` jobs going. Cancel the task to stop: running jobs are
        handed back to the queue for another worker."""
        await self.sweep_work_dirs()
        listener = asyncio.create_task(self._listen(), name="media.queue.listen")
        active: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()
                while len(active) < self.transcode.concurrency:
                    try:
                        job = await self.claim()
                    except Exception:
                        log.exception("claiming a transcode job failed; retrying in %.0f s",
                                      self.transcode.poll_seconds)
                        break
                    if job is None:
                        break
                    active.add(asyncio.create_task(self.process(job), name=f"media.job.{job.id}"))
                waker = asyncio.create_task(self._wake.wait())
                done, _ = await asyncio.wait({*active, waker}, timeout=self.transcode.poll_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                for task in done & active:
                    active.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("transcode task crashed", exc_info=task.exception())
        finally:
            listener.cancel()
            for task in active:
                task.cancel()
            await asyncio.gather(*active, listener, return_exceptions=True)

    async def run_until_idle(self) -> int:
        """Process every job that is due now, one after another, and return how many ran. Tests and
        ``kdrama-tui worker --once`` use it to take accepted videos to ``ready`` synchronously."""
        await self.sweep_work_dirs()
        count = 0
        while (job := await self.claim()) is not None:
            await self.process(job)
            count += 1
        return count

    async def _listen(self) -> None:
        async for event in self.events.stream():
            if event.type == "job.queued":
                self._wake.set()

    async def claim(self) -> TranscodingJob | None:
        now = utcnow()
        async with self.db.transaction() as tx:
            job = await repos_of(tx).jobs.claim_next(self.worker_id, now, now + self.lease)
        if job is None:
            return None
        await asyncio.to_thread(self._remove_work_dirs, job.id)  # a previous holder's leftovers: start clean
        log.info("job %d (video %d, attempt %d) claimed by %s", job.id, job.video_id, job.attempt, self.worker_id)
        if job.claims > MAX_CLAIMS:
            await self._record_failure(job, MediaError(
                f"the workers running this job stopped {job.claims - 1} times without finishing it"))
            return await self.claim()
        return job

    async def process(self, job: TranscodingJob) -> None:
        """Run one claimed job to its end (completed, failed + retry, cancelled or lost)."""
        run = Run(job)
        self._running[job.id] = run
        self.events.publish("job.started", job_id=job.id, video_id=job.video_id, attempt=job.attempt,
                            worker_id=self.worker_id)
        run.task = asyncio.create_task(self._execute(run), name=f"media.execute.{job.id}")
        heartbeat = asyncio.create_task(self._heartbeat(run), name=f"media.heartbeat.{job.id}")
        try:
            await asyncio.wait({run.task})
        except asyncio.CancelledError:  # shutting down: stop ffmpeg, give the job back
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(repos_of(self.db).jobs.release(job.id, self.worker_id))
            log.info("job %d released for another worker (shutdown)", job.id)
            raise
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            self._running.pop(job.id, None)
            if run.work is not None:
                await asyncio.to_thread(shutil.rmtree, run.work, True)
        if run.task.cancelled() or isinstance(run.task.exception(), StopJob):
            log.info("job %d stopped: %s", job.id, run.stop_reason or "no longer held by this worker")
        elif (error := run.task.exception()) is not None:
            await self._record_failure(job, error)
        else:
            self.events.publish("job.finished", job_id=job.id, video_id=job.video_id, **run.finished)
            self.events.publish("video.ready", video_id=job.video_id)

    async def _heartbeat(self, run: Run) -> None:
        """Renew the lease and write progress at most once a second; stop the work if the job is gone."""
        renew_every = max(PROGRESS_INTERVAL, min(10.0, self.transcode.lease_seconds / 4))
        last_touch = time.monotonic()
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            percent = min(99, int(run.fraction * 100))
            changed = percent != run.written_progress
            ladder = run.ladder if run.ladder != run.written_ladder else None
            if not changed and ladder is None and time.monotonic() - last_touch < renew_every:
                continue
            now = utcnow()
            try:
                held = await repos_of(self.db).jobs.touch(run.job.id, self.worker_id, now, now + self.lease,
                                                      percent if changed else None, ladder)
            except Exception:
                log.exception("job %d: could not renew the lease; will try again", run.job.id)
                continue
            last_touch = time.monotonic()
            if not held:
                current = await repos_of(self.db).jobs.find_by_id(run.job.id)
                if current is None:
                    run.stop_reason = "deleted"
                elif current.status == "cancelled":
                    run.stop_reason = "cancelled"
                else:
                    run.stop_reason = f"lost to {current.worker_id or 'another worker'}"
                if run.task is not None:
                    run.task.cancel()
                return
            if ladder is not None:
                run.written_ladder = ladder
                self.events.publish("job.ladder", job_id=run.job.id, video_id=run.job.video_id,
                                    **rendition_summary(ladder))
            if changed:
                run.written_progress = percent
                self.events.publish("job.progress", job_id=run.job.id, video_id=run.job.video_id, progress=percent)

    # ---- one job ---------------------------------------------------------------------------------------------
    async def _execute(self, run: Run) -> None:
        job = run.job
        video = await repos_of(self.db).videos.find_by_id(job.video_id)
        if video is None:
            raise StopJob("the video was deleted")
        files = await repos_of(self.db).video_files.find_by_video(video.id)
        original = next((f for f in files if f.file_type == "original"), None)
        if original is None:
            raise InputError("the video has no original file")
        transcoder = self.transcoders.get(job.provider)
        if transcoder is None:
            raise MediaError(f"transcoder {job.provider!r} is not available on this worker")
        run.work = self.work_root / f"job-{job.id}-{secrets.token_hex(4)}"
        (run.work / "input").mkdir(parents=True)
        source = await self._local_input(original, run.work / "input" / f"source{Path(original.file_path).suffix}")
        sidecars = []
        for i, row in enumerate(f for f in files if f.file_type == "subtitle_source"):
            path = await self._local_input(row, run.work / "input" / f"subtitle{i:02d}{Path(row.file_path).suffix}")
            sidecars.append(SidecarInput(path, row.language, row.label, f"subtitle {Path(row.file_path).name}"))
        async def publish_partial(files: list[OutputFile], duration: float) -> None:
            await self.publisher.partial(run, video, files, duration)

        def on_state(state: dict[str, Any]) -> None:
            run.ladder = state

        request = TranscodeRequest(job_id=job.id, video_id=video.id, source=source, sidecars=sidecars,
                                   work_dir=run.work, settings=self.transcode, on_partial=publish_partial,
                                   on_state=on_state)

        def progress(fraction: float) -> None:
            run.fraction = max(run.fraction, fraction)

        result = await transcoder.transcode(request, progress)
        await self.publisher.final(run, video, result)

    async def _local_input(self, row: VideoFile, target: Path) -> Path:
        """A local path ffmpeg can read: the stored file itself on local storage, else a downloaded copy."""
        storage = self.storages.get(row.storage_provider)
        if storage is None:
            raise MediaError(f"{row.file_path} is stored on {row.storage_provider!r}, which is not configured")
        local = storage.local_path(row.file_path)
        if local is not None and local.is_file():
            return local
        try:
            await storage.get_to_file(row.file_path, target)
        except FileNotFoundError:
            raise InputError(f"the stored file {row.file_path} is missing") from None
        return target

    async def _record_failure(self, job: TranscodingJob, error: BaseException) -> None:
        permanent = isinstance(error, InputError)
        if isinstance(error, MediaError):
            message = str(error)
            log.warning("job %d failed: %s", job.id, message)
        else:
            message = f"internal error: {type(error).__name__}: {error}"
            log.error("job %d crashed", job.id, exc_info=error)
        message = message[-ERROR_MESSAGE_LIMIT:]  # the end holds ffmpeg's last stderr lines
        retry: TranscodingJob | None = None
        video_failed = False
        async with self.db.transaction() as tx:
            failed = await repos_of(tx).jobs.finish_held(job.id, self.worker_id, {
                "status": "failed", "error_message": message, "completed_at": utcnow()})
            if failed is None:
                return  # no longer ours: whoever holds it now decides
            if not permanent and job.attempt < self.transcode.max_attempts:
                delay = self.transcode.retry_backoff_seconds * 2 ** (job.attempt - 1)
                retry = await repos_of(tx).jobs.queue(
                    job.video_id, priority=job.priority, provider=job.provider, retry_of=job,
                    run_after=utcnow() + timedelta(seconds=delay))
            else:
                video_failed = await _mark_video_failed(tx, job.video_id)
        self.events.publish("job.failed", job_id=job.id, video_id=job.video_id, attempt=job.attempt,
                            error=message.splitlines()[0] if message else "", will_retry=retry is not None)
        if retry is not None:
            run_after = retry.run_after.isoformat() if retry.run_after else None
            self.events.publish("job.retry_scheduled", job_id=retry.id, retry_of=job.id, video_id=job.video_id,
                                attempt=retry.attempt, run_after=run_after)
        if video_failed:
            self.events.publish("video.failed", video_id=job.video_id, error=message.splitlines()[0])

    # ---- work folders ----------------------------------------------------------------------------------------
    def _remove_work_dirs(self, job_id: int) -> None:
        if self.work_root.is_dir():
            for path in self.work_root.glob(f"job-{job_id}-*"):
                shutil.rmtree(path, ignore_errors=True)

    async def sweep_work_dirs(self) -> None:
        """Remove work folders of jobs no worker runs any more (left by a crash)."""
        if not self.work_root.is_dir():
            return
        for path in list(self.work_root.iterdir()):
            parts = path.name.split("-")
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            job = await repos_of(self.db).jobs.find_by_id(int(parts[1]))
            if job is None or job.status != "processing":
                await asyncio.to_thread(shutil.rmtree, path, True)

    # ---- admin -----------------------------------------------------------------------------------------------
    async def enqueue(self, video_id: int, *, priority: int = 5, provider: str = "local_server") -> TranscodingJob:
        """Queue a new transcode of a video (a manual retry, or a re-encode with a new ladder)."""
        if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 10:
            raise ValidationError("priority must be an integer 1-10 (1 runs first)", code="invalid_priority")
        if provider not in self.transcoders:
            raise ValidationError(f"unknown transcoder {provider!r}", code="invalid_provider")
        async with self.db.transaction() as tx:
            video = await repos_of(tx).videos.get(video_id)
            active = await repos_of(tx).jobs.active_for_video(video_id)
            if active is not None:
                raise Conflict(f"job {active.id} for this video is already {active.status}", code="job_active",
                               details={"job_id": active.id})
            if not await repos_of(tx).video_files.find_by_video(video_id, "original"):
                raise Conflict("the video has no original file to transcode", code="no_original")
            job = await repos_of(tx).jobs.queue(video_id, priority=priority, provider=provider)
            if video.status != "ready":
                await repos_of(tx).videos.update(video_id, {"status": "processing"})
        self.events.publish("job.queued", job_id=job.id, video_id=video_id, priority=priority)
        return job

    async def cancel(self, job_id: int) -> TranscodingJob:
        """Cancel a queued or running job; a running ffmpeg is killed and its partial output removed."""
        async with self.db.transaction() as tx:
            job = await repos_of(tx).jobs.cancel(job_id, utcnow())
            if job is None:
                existing = await repos_of(tx).jobs.get(job_id)
                raise Conflict(f"job {job_id} is already {existing.status}", code="job_finished")
            video_failed = False
            if await repos_of(tx).jobs.active_for_video(job.video_id) is None:
                video_failed = await _mark_video_failed(tx, job.video_id)
        run = self._running.get(job_id)
        if run is not None and run.task is not None:  # here; other workers notice at their next renewal
            run.stop_reason = "cancelled"
            run.task.cancel()
        self.events.publish("job.cancelled", job_id=job_id, video_id=job.video_id)
        if video_failed:
            self.events.publish("video.failed", video_id=job.video_id, error="transcoding was cancelled")
        return job

    async def set_priority(self, job_id: int, priority: Any) -> TranscodingJob:
        if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 10:
            raise ValidationError("priority must be an integer 1-10 (1 runs first)", code="invalid_priority")
        job = await repos_of(self.db).jobs.set_priority(job_id, priority)
        if job is None:
            existing = await repos_of(self.db).jobs.get(job_id)
            raise Conflict(f"only a queued job can change priority (job {job_id} is {existing.status})",
                           code="job_not_queued")
        self.events.publish("job.updated", job_id=job_id, video_id=job.video_id, priority=priority)
        self._wake.set()
        return job

    async def list_jobs(self, statuses: list[str] | None = None, video_id: int | None = None,
                        limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        statuses = statuses or []
        unknown = set(statuses) - set(JOB_STATUSES)
        if unknown:
            raise ValidationError(f"status must be one of {', '.join(JOB_STATUSES)}", code="invalid_parameter")
        rows = await repos_of(self.db).jobs.queue_listing(statuses, video_id, limit, offset)
        return [{**TranscodingJob.from_row(r).to_dict(), "video_title": r.get("video_title")} for r in rows]

    async def get_job(self, job_id: int) -> TranscodingJob:
        return await repos_of(self.db).jobs.get(job_id)

    def running_jobs(self) -> list[int]:
        return sorted(self._running)


async def _mark_video_failed(tx: Any, video_id: int) -> bool:
    """A video with nothing playable becomes ``failed``; one that already streams stays ``ready``."""
    video = await repos_of(tx).videos.find_by_id(video_id)
    if video is None or video.status == "ready":
        return False
    if await repos_of(tx).video_files.find_by_video(video_id, "master_playlist"):
        return False
    await repos_of(tx).videos.update(video_id, {"status": "failed"})
    return True

