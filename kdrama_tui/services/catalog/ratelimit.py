"""A per-key sliding-window counter kept in memory (views and comments per IP)."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds per key; idle keys are swept as the map grows."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one event; 0 when allowed, else the seconds until the next one would be."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._sweep(now)
            hits = self._hits[key] = deque()
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return self.window - (now - hits[0])
        hits.append(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # still full of active keys: forget the oldest half
            for key in list(self._hits)[: self.max_keys // 2]:
                del self._hits[key]
