"""Turning API values into short text for 80-column screens."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def human_bytes(value: float | int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover (loop returns)


def human_duration(seconds: float | int | None) -> str:
    """``3725`` -> ``1h 2m``; days for long uptimes, seconds only under a minute."""
    if seconds is None:
        return "-"
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone()
    try:
        return datetime.fromisoformat(str(value)).astimezone()
    except ValueError:
        return None


def short_time(value: Any, *, seconds: bool = False) -> str:
    """A timestamp (ISO text or epoch seconds) in the terminal's local time, or ``-``."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def clock_time(value: Any) -> str:
    moment = parse_time(value)
    return moment.strftime("%H:%M:%S") if moment else "--:--:--"


def event_summary(event: dict[str, Any]) -> str:
    """``job.finished`` + data -> ``job.finished  job_id=3 video_id=2`` (ids first, long values cut)."""
    data = event.get("data") or {}
    keys = sorted(data, key=lambda k: (not k.endswith("id"), k))
    parts = []
    for key in keys:
        value = data[key]
        if isinstance(value, float):
            value = f"{value:.1f}"
        text = str(value)
        parts.append(f"{key}={text if len(text) <= 40 else text[:39] + '…'}")
    return f"{event.get('type', '?')}  {' '.join(parts)}".rstrip()


def truncate(text: Any, width: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= width else value[: max(width - 1, 0)] + "…"


def text_bar(percent: float | None, width: int = 12) -> str:
    """``42.0`` -> ``█████░░░░░░░  42%`` (for table cells, where widgets cannot go)."""
    if percent is None:
        return "?"
    value = max(0.0, min(100.0, float(percent)))
    filled = round(width * value / 100)
    return f"{'█' * filled}{'░' * (width - filled)} {value:3.0f}%"


def short_date(value: Any) -> str:
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d") if moment else "-"


def ago(value: Any, now: float) -> str:
    """How long before ``now`` (epoch seconds): ``just now``, ``5m ago``, ``3h ago``, ``2d ago``, else a date."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = now - moment.timestamp()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 60 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return moment.strftime("%Y-%m-%d")
