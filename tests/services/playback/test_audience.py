"""Viewers now: addresses that fetched a video's HLS files within the window, per video."""

from __future__ import annotations

from kdrama_tui.services.playback.audience import Audience


def test_viewers_are_counted_per_address_and_video_and_forgotten_after_the_window() -> None:
    now = [1000.0]
    audience = Audience(window=60, clock=lambda: now[0])
    for _ in range(5):  # one player fetching segment after segment is one viewer
        audience.seen("10.0.0.5", 1)
    audience.seen("10.0.0.6", 1)
    audience.seen("10.0.0.5", 2)
    assert audience.now() == {"active": 3, "window_seconds": 60, "by_video": {"1": 2, "2": 1}}
    now[0] += 45
    audience.seen("10.0.0.6", 1)
    now[0] += 30  # 75 s after the first requests, 30 s after the last one
    assert audience.now()["by_video"] == {"1": 1}
    now[0] += 61
    assert audience.now()["active"] == 0
