"""View beacons in, view statistics out.

Beacons are buffered in memory and written in batches (one ``executemany`` transaction a second, or
sooner when the buffer fills): a busy evening of viewers costs a handful of transactions, not one each
(PERFORMANCE.md: batched inserts are ten times faster). Durations are clamped to what is possible for the
video, and a flood from one address is dropped (``streaming.views_per_ip_per_minute``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.errors import NotFound, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.ratelimit import SlidingWindow
from kdrama_tui.services.playback.service import PlaybackService

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
FLUSH_ROWS = 500
MAX_BUFFERED = 50_000  # the database is down for long: keep memory bounded, drop the newest
DURATION_MARGIN = 60  # seconds beyond the video's length a beacon may claim (rounding, seeking back)
UNKNOWN_DURATION_CAP = 24 * 3600
USER_AGENT_LIMIT = 512


class AnalyticsService:
    def __init__(self, db: Database, playback: PlaybackService, views_per_ip_per_minute: int,
                 events: EventBus | None = None) -> None:
        self.db = db
        self.playback = playback
        self.events = events  # views.recorded after each write: live view counts on dashboards
        self.limiter = SlidingWindow(views_per_ip_per_minute, 60.0)
        self._buffer: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.dropped = 0

    # ---- beacons ----------------------------------------------------------------------------------
    @staticmethod
    def clamp_duration(value: Any, duration_seconds: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("watch_duration must be a number of seconds", code="invalid_watch_duration")
        if value != value or value < 0:  # NaN or negative
            return 0
        cap = duration_seconds + DURATION_MARGIN if duration_seconds else UNKNOWN_DURATION_CAP
        return int(min(value, cap))

    async def record(self, video_id: int, watch_duration: Any, *, ip: str, user_agent: str | None,
                     user_id: int | None = None) -> bool:
        """Queue one view; False when it was dropped by the per-address limit."""
        access = await self.playback.access(video_id)
        if access is None:
            raise NotFound("video not found")
        seconds = self.clamp_duration(watch_duration, access.duration_seconds)
        if self.limiter.hit(ip or "unknown"):
            self.dropped += 1
            return False
        if len(self._buffer) >= MAX_BUFFERED:
            self.dropped += 1
            return False
        self._buffer.append({"video_id": video_id, "user_id": user_id, "ip_address": (ip or None),
                             "user_agent": (user_agent or "")[:USER_AGENT_LIMIT] or None,
                             "watch_duration": seconds, "viewed_at": utcnow()})
        if len(self._buffer) >= FLUSH_ROWS:
            self._wake.set()
        return True

    async def flush(self) -> int:
        """Write what is buffered; on failure the rows stay buffered for the next attempt."""
        async with self._flush_lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                await repos_of(self.db).analytics.insert_many(batch)
            except Exception:
                self._buffer[:0] = batch
                raise
            if self.events is not None:  # one event per write, at most about one a second
                self.events.publish("views.recorded", count=len(batch))
            return len(batch)

    async def run(self) -> None:
        """Background writer: flush every second (or when the buffer fills); flush once more on stop."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
                self._wake.clear()
                try:
                    await self.flush()
                except Exception:
                    log.exception("could not write %d buffered views; will retry", len(self._buffer))
                    await asyncio.sleep(FLUSH_SECONDS)
        finally:
            if self._buffer:
                await self.flush()

    # ---- statistics (the admin console's /api/admin/stats builds on these) ------------------------
    async def views_per_day(self, days: int = 30, video_id: int | None = None) -> list[dict[str, Any]]:
        """One entry per UTC day of the last ``days`` days, oldest first, zero-filled."""
        if not 1 <= days <= 3660:
            raise ValidationError("days must be 1-3660", code="invalid_parameter")
        today = utcnow().date()
        first = today - timedelta(days=days - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        found = {r["day"]: r for r in await repos_of(self.db).analytics.per_day(since, video_id)}
        out = []
        for i in range(days):
            day = (first + timedelta(days=i)).isoformat()
            row = found.get(day, {"views": 0, "watch_seconds": 0})
            out.append({"day": day, "views": row["views"], "watch_seconds": row["watch_seconds"]})
        return out

    async def views_today(self) -> int:
        now = utcnow()
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        return (await repos_of(self.db).analytics.totals(since=midnight))["views"]

    async def views_for_video(self, video_id: int) -> dict[str, int]:
        """``{"views", "watch_seconds", "viewers"}`` (viewers = distinct addresses) over all time."""
        return await repos_of(self.db).analytics.totals(video_id=video_id)

    async def totals(self, days: int | None = None) -> dict[str, int]:
        since = utcnow() - timedelta(days=days) if days else None
        return await repos_of(self.db).analytics.totals(since=since)

    async def top_videos(self, days: int = 7, limit: int = 10) -> list[dict[str, Any]]:
        return await repos_of(self.db).analytics.top_videos(utcnow() - timedelta(days=days), limit)
