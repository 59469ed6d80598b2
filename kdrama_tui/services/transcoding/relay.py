"""Relays the job events of other processes' workers onto this process's event bus.

A ``kdrama-tui worker`` publishes ``job.*`` and ``video.*`` events on its own bus, which nothing in the server
process sees: the dashboard (fed by the admin event stream) would learn of its progress only on refresh and
the playback cache that a video became ready only when its entry expired. The relay polls the queue's rows
(one indexed query: queued and running jobs, plus any job newer than the last one seen) and publishes what
changed, in the same shapes as :class:`~kdrama_tui.services.transcoding.queue.MediaQueue`, so consumers cannot
tell a relayed event from a local one.

It never speaks for this process: a job leased by the local worker is skipped, and so is any job the local
bus already announced (the relay listens to the bus; a local ``job.started``/``finished``/``failed``/
``cancelled``/``retry_scheduled`` marks the job as this process's). A failure or a cancellation is relayed
one poll late: this process may be about to announce it itself (it writes the row first, then publishes).
A job that ran to its end between two polls is still announced, started and all, but its ``job.started``
has no ``worker_id`` (the finished row no longer names its worker).

Polls every ``FAST_SECONDS`` while another process runs a job or one is queued, else every
``IDLE_SECONDS``; a local ``job.queued`` wakes it early.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.events import Event, EventBus
from kdrama_tui.models import TranscodingJob
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.transcoding.publish import rendition_summary

log = logging.getLogger(__name__)

FAST_SECONDS = 1.0
IDLE_SECONDS = 3.0
LOCAL_MEMORY_SECONDS = 600.0  # how long a job announced on the local bus stays this process's
_LOCAL_EVENTS = ("job.started", "job.finished", "job.failed", "job.cancelled", "job.retry_scheduled")
_TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class _Running:
    """A job another process runs, as last announced."""

    worker_id: str | None
    started_at: datetime | None
    progress: int
    ladder: dict[str, Any] | None = None


class JobRelay:
    def __init__(self, db: Database, events: EventBus, own_worker_id: str) -> None:
        self.db = db
        self.events = events
        self.own_worker_id = own_worker_id
        self._after = 0  # the highest job id seen
        self._running: dict[int, _Running] = {}
        self._queued: set[int] = set()
        self._pending: set[int] = set()  # ended jobs to announce at the next poll unless this process did
        self._retries: dict[int, TranscodingJob] = {}  # retry_of_id -> the retry row
        self._local: dict[int, float] = {}  # job id -> when this process last announced it (monotonic)
        self._mine: set[int] = set()  # ids of the events the relay published, to tell them from local ones

    # ---- loop ------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        with self.events.subscription() as inbox:
            primed = False
            while True:
                try:
                    if primed:
                        await self.poll(inbox)
                    else:
                        await self.prime()
                        primed = True
                except Exception:
                    log.exception("job relay: reading the queue failed; trying again")
                busy = bool(self._running or self._queued or self._pending)
                await self._wait(inbox, FAST_SECONDS if busy else IDLE_SECONDS)

    async def _wait(self, inbox: asyncio.Queue[Event], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                # Not wait_for: on Python 3.11 it swallows a cancel that arrives as an event does, and the
                # relay would then outlive the shutdown that cancelled it.
                async with asyncio.timeout(left):
                    event = await inbox.get()
            except TimeoutError:
                return
            if self._note(event) == "job.queued":
                deadline = min(deadline, time.monotonic() + FAST_SECONDS)

    async def prime(self) -> None:
        """Adopt what is running now without announcing it (it started before this process did)."""
        self._after = await repos_of(self.db).jobs.max_id()
        for row in await repos_of(self.db).jobs.relay_snapshot(self._after):
            if row.status == "processing" and row.worker_id != self.own_worker_id:
                self._running[row.id] = _Running(row.worker_id, row.started_at, row.progress)
            elif row.status == "queued":
                self._queued.add(row.id)

    # ---- one poll --------------------------------------------------------------------------------------------
    async def poll(self, inbox: asyncio.Queue[Event]) -> None:
        taken = time.monotonic()
        rows = await repos_of(self.db).jobs.relay_snapshot(self._after)
        # Read what this process announced up to now: it is at least as new as the rows just read.
        while not inbox.empty():
            self._note(inbox.get_nowait())
        self._forget_old_marks(taken)
        seen = {row.id: row for row in rows}
        for row in rows:
            if row.retry_of_id is not None:
                self._retries[row.retry_of_id] = row
        for job_id in sorted(self._pending):  # seen ended at the previous poll
            if job_id not in self._local:
                try:
                    await self._announce_end(job_id, was_running=job_id in self._running)
                except Exception:
                    log.exception("job relay: could not read job %d; trying again", job_id)
                    continue
            self._pending.discard(job_id)
            self._running.pop(job_id, None)
        ended = [job_id for job_id in [*self._running, *self._queued]
                 if job_id not in self._pending and (job_id not in seen or seen[job_id].status in _TERMINAL)]
        queued_before = self._queued
        self._queued = set()
        for row in rows:
            self._after = max(self._after, row.id)
            if row.status == "queued":
                self._queued.add(row.id)
                self._running.pop(row.id, None)  # handed back (the worker stopped): the next claim announces
            elif row.status == "processing":
                self._on_running(row, taken)
            elif row.id not in self._running and row.id not in queued_before and row.id not in self._pending:
                ended.append(row.id)  # queued and finished between two polls
        for job_id in ended:
            try:
                await self._on_ended(job_id, job_id in self._running)
            except Exception:
                log.exception("job relay: could not read job %d; trying again", job_id)
                self._pending.add(job_id)

    def _on_running(self, row: TranscodingJob, taken: float) -> None:
        if row.worker_id == self.own_worker_id:
            self._running.pop(row.id, None)  # the local queue announces its own jobs
            return
        marked = self._local.get(row.id)
        if marked is not None:
            if marked >= taken:
                return  # this process claimed it after the rows were read
            del self._local[row.id]  # another worker took it over from this process
        known = self._running.get(row.id)
        if known is None or (known.worker_id, known.started_at) != (row.worker_id, row.started_at):
            self._publish("job.started", job_id=row.id, video_id=row.video_id, attempt=row.attempt,
                          worker_id=row.worker_id)
            known = self._running[row.id] = _Running(row.worker_id, row.started_at, 0)
        if row.progress > known.progress:
            known.progress = row.progress
            self._publish("job.progress", job_id=row.id, video_id=row.video_id, progress=row.progress)
        if row.ladder and row.ladder != known.ladder:
            summary = rendition_summary(row.ladder)
            if summary["renditions_ready"] != rendition_summary(known.ladder)["renditions_ready"]:
                # Playable early: this process's playback cache must see the new master playlist.
                self._publish("video.updated", video_id=row.video_id, playable=True, **summary)
            known.ladder = row.ladder
            self._publish("job.ladder", job_id=row.id, video_id=row.video_id, **summary)

    async def _on_ended(self, job_id: int, was_running: bool) -> None:
        if job_id in self._local:
            self._running.pop(job_id, None)
            return
        job = await repos_of(self.db).jobs.find_by_id(job_id)
        if job is None or job.status not in _TERMINAL:  # deleted with its video (video.deleted says so)
            self._running.pop(job_id, None)
            return
        if job.status == "completed":  # only the worker holding the job completes it: announce at once
            await self._announce_end(job_id, was_running=was_running, job=job)
            self._running.pop(job_id, None)
        else:  # this process may be about to announce it itself
            self._pending.add(job_id)

    async def _announce_end(self, job_id: int, *, was_running: bool, job: TranscodingJob | None = None) -> None:
        job = job or await repos_of(self.db).jobs.find_by_id(job_id)
        if job is None or job.status not in _TERMINAL:
            return
        video = await repos_of(self.db).videos.find_by_id(job.video_id)
        if not was_running and job.started_at is not None:  # it ran to its end between two polls
            self._publish("job.started", job_id=job.id, video_id=job.video_id, attempt=job.attempt,
                          worker_id=job.worker_id)
        if job.status == "completed":
            duration = float(video.duration_seconds or 0) if video is not None else 0.0
            self._publish("job.finished", job_id=job.id, video_id=job.video_id, renditions=job.output_formats or [],
                          duration=duration, warnings=job.warnings or [])
            self._publish("video.ready", video_id=job.video_id)
        elif job.status == "failed":
            first_line = (job.error_message or "").splitlines()[0] if job.error_message else ""
            retry = self._retries.pop(job.id, None)
            self._publish("job.failed", job_id=job.id, video_id=job.video_id, attempt=job.attempt,
                          error=first_line, will_retry=retry is not None)
            if retry is not None:
                self._publish("job.retry_scheduled", job_id=retry.id, retry_of=job.id, video_id=job.video_id,
                              attempt=retry.attempt, run_after=retry.run_after.isoformat() if retry.run_after else None)
            elif video is not None and video.status == "failed":
                self._publish("video.failed", video_id=job.video_id, error=first_line)
        elif job.status == "cancelled":
            self._publish("job.cancelled", job_id=job.id, video_id=job.video_id)
            if video is not None and video.status == "failed":
                self._publish("video.failed", video_id=job.video_id, error="transcoding was cancelled")

    # ---- the local bus ---------------------------------------------------------------------------------------
    def _publish(self, type: str, **data: Any) -> None:
        self._mine.add(self.events.publish(type, **data).id)

    def _note(self, event: Event) -> str | None:
        """Remember jobs this process announced; returns the type of an event the relay did not publish."""
        if self._mine and event.id in self._mine:
            self._mine = {i for i in self._mine if i > event.id}  # older ones were dropped by the bus
            return None
        if event.type in _LOCAL_EVENTS:
            # A retry this process scheduled is its failed job's; whoever runs the retry announces it.
            key = "retry_of" if event.type == "job.retry_scheduled" else "job_id"
            if isinstance(job_id := event.data.get(key), int):
                self._local[job_id] = time.monotonic()
        return event.type

    def _forget_old_marks(self, now: float) -> None:
        if self._local and min(self._local.values()) < now - LOCAL_MEMORY_SECONDS:
            self._local = {k: v for k, v in self._local.items() if v >= now - LOCAL_MEMORY_SECONDS}
        if len(self._retries) > 1000:
            self._retries.clear()
