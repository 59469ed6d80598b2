"""In-process event bus.

Services publish small JSON-able events (``upload.progress``, ``job.finished``...); the admin API streams
them to dashboards and the dashboard's log view shows them. Subscribers get a bounded queue each, so a
slow or stalled subscriber drops its oldest events instead of slowing down the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "ts": self.ts, "data": self.data}


class EventBus:
    def __init__(self, history: int = 200, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._history: deque[Event] = deque(maxlen=history)
        self._ids = itertools.count(1)
        self._queue_size = queue_size

    def publish(self, type: str, **data: Any) -> Event:
        event = Event(type=type, data=data, id=next(self._ids), ts=time.time())
        self._history.append(event)
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        return event

    def recent(self, limit: int = 50, prefix: str = "") -> list[Event]:
        events = [e for e in self._history if e.type.startswith(prefix)]
        return events[-limit:]

    @contextlib.contextmanager
    def subscription(self) -> Any:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def stream(self) -> AsyncIterator[Event]:
        with self.subscription() as queue:
            while True:
                yield await queue.get()
