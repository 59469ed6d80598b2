"""Parts being received right now: who holds which part, how many bytes have arrived, progress events.

This lives in memory on purpose: bytes in flight are not durable, so they never touch the database; the
verified total does (``uploads.bytes_received``). One part (or, for tus, one PATCH per upload) can be in
flight at a time: a second request for it is refused instead of racing the first, unless it first
supersedes the holder (:meth:`InflightTracker.supersede`, what tus does for a client that resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kdrama_tui.events import EventBus

PartKey = int | str  # a chunk number, or "tus" for an upload's single PATCH stream


@dataclass
class _Session:
    verified: int
    total: int | None  # None: a tus upload whose length is deferred
    parts: dict[PartKey, int] = field(default_factory=dict)


class InflightTracker:
    def __init__(self, events: EventBus, *, interval: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.events = events
        self.interval = interval
        self.monotonic = monotonic
        self._sessions: dict[int, _Session] = {}
        # Outlives _sessions (emptied between sequential parts) so the throttle holds across parts.
        self._last_event: dict[int, float] = {}
        # Per claim: how to make its request stop reading (None: it cannot be stopped) and when it ended.
        self._holders: dict[tuple[int, PartKey], tuple[Callable[[], None] | None, asyncio.Event]] = {}

    def claim(self, upload_id: int, key: PartKey, *, verified: int, total: int | None,
              stop: Callable[[], None] | None = None) -> bool:
        """Mark a part as in flight; False when another request already holds it. ``stop`` ends the
        holder's body early (as if its connection dropped) when a later request supersedes it."""
        session = self._sessions.setdefault(upload_id, _Session(verified, total))
        if key in session.parts:
            return False
        session.verified = max(session.verified, verified)
        session.parts[key] = 0
        self._holders[(upload_id, key)] = (stop, asyncio.Event())
        return True

    def release(self, upload_id: int, key: PartKey) -> None:
        holder = self._holders.pop((upload_id, key), None)
        if holder is not None:
            holder[1].set()
        session = self._sessions.get(upload_id)
        if session is None:
            return
        session.parts.pop(key, None)
        if not session.parts:
            del self._sessions[upload_id]

    async def supersede(self, upload_id: int, key: PartKey, *, wait_seconds: float) -> bool:
        """Stop the request holding ``key`` and wait (up to ``wait_seconds``) until it has settled what it
        received; True if there was one. A client that resumes has given up on its earlier request, whose
        connection may look alive for minutes (or be gone, its last bytes still being recorded)."""
        holder = self._holders.get((upload_id, key))
        if holder is None:
            return False
        stop, done = holder
        if stop is not None:
            stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), wait_seconds)
        return True

    def add(self, upload_id: int, key: PartKey, nbytes: int) -> None:
        session = self._sessions.get(upload_id)
        if session is None or key not in session.parts:
            return
        session.parts[key] += nbytes
        self._maybe_publish(upload_id, session)

    def verified(self, upload_id: int, verified: int) -> None:
        """A part was recorded: the durable total moved on."""
        session = self._sessions.get(upload_id)
        if session is not None:
            session.verified = max(session.verified, verified)
            self._maybe_publish(upload_id, session)

    def set_total(self, upload_id: int, total: int) -> None:
        """A deferred length was declared."""
        session = self._sessions.get(upload_id)
        if session is not None:
            session.total = total

    def bytes_in_flight(self, upload_id: int) -> int:
        session = self._sessions.get(upload_id)
        return sum(session.parts.values()) if session else 0

    def parts_in_flight(self, upload_id: int) -> int:
        session = self._sessions.get(upload_id)
        return len(session.parts) if session else 0

    def busy(self, upload_id: int) -> bool:
        return upload_id in self._sessions

    def forget(self, upload_id: int) -> None:
        """The upload ended: drop its throttle state."""
        self._last_event.pop(upload_id, None)

    def _maybe_publish(self, upload_id: int, session: _Session) -> None:
        now = self.monotonic()
        if now - self._last_event.get(upload_id, float("-inf")) < self.interval:
            return  # at most about one event per second per upload
        if len(self._last_event) > 10_000:  # uploads that ended without forget() (e.g. expired elsewhere)
            self._last_event = {k: v for k, v in self._last_event.items() if now - v < 3600}
        self._last_event[upload_id] = now
        received = session.verified + sum(session.parts.values())
        if session.total is not None:
            received = min(session.total, received)
        self.events.publish("upload.progress", upload_id=upload_id, bytes_received=received,
                            total_size=session.total, progress=percent(received, session.total))


def percent(done: int, total: int | None) -> float | None:
    """None while the total is unknown (a deferred tus length)."""
    if total is None:
        return None
    return 100.0 if total <= 0 else round(100.0 * min(done, total) / total, 1)
