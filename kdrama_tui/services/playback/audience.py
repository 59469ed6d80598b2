"""Who is watching right now: the addresses that fetched a video's HLS files in the last minute.

The player fetches a segment every few seconds while it plays, so an address seen within ``window``
seconds is a viewer still watching. Counting costs one dict assignment per request (the hot path stays
without an await); old entries are dropped when counted, and the table is bounded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

WINDOW_SECONDS = 60.0
MAX_TRACKED = 20_000  # a flood of addresses must not grow memory without bound


class Audience:
    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int], float] = {}

    def seen(self, address: str | None, video_id: int) -> None:
        """A request for one of ``video_id``'s HLS files came from ``address``."""
        key = (address or "?", video_id)
        seen = self._seen
        if key not in seen and len(seen) >= MAX_TRACKED:
            self._forget_old()
            if len(seen) >= MAX_TRACKED:
                return
        seen[key] = self.clock()

    def _forget_old(self) -> None:
        cutoff = self.clock() - self.window
        for key in [k for k, t in self._seen.items() if t < cutoff]:
            del self._seen[key]

    def now(self) -> dict[str, Any]:
        """``{"active": viewers, "by_video": {video_id: viewers}}`` over the last ``window`` seconds.
        A viewer is an (address, video) pair: two people behind one address watching one video count once."""
        self._forget_old()
        by_video = Counter(video_id for _, video_id in self._seen)
        return {"active": sum(by_video.values()), "window_seconds": self.window,
                "by_video": {str(k): v for k, v in by_video.most_common(20)}}
