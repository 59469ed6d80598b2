"""Scene and fansub names through guessit: ``Show.S01E03``, ``S01E01-E02``, ``1x03``, ``Show - 03``, ``EP03``.

guessit knows the release tags (``720p``, ``x264``, ``H.264``, ``WEB-DL``, ``[NEXT]``) and never takes them
for numbers. Two of its readings are corrected here: ``Season 1 - 07`` (it reads seasons 1 to 7) is
rewritten ``S01E07`` first, and the title is taken from the name as written (``Mr. Sunshine``, where
guessit says ``Mr Sunshine``).

guessit is imported on first use (it takes a second or more to load its rules) and called under a lock:
it reconfigures one shared parser on every call.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from typing import Any

from kdrama_tui.services.ingest.naming.parsed import ParsedName, clean_title

_SEASON_DASH_EPISODE = re.compile(r"(?<![A-Za-z0-9])(?:Season[ ._]?|S)(\d{1,2})\s*[-\u2013]\s*(\d{1,4})(?![0-9A-Za-z])",
                                  re.IGNORECASE)
_OPTIONS = {"type": "episode", "advanced": True}
_lock = threading.Lock()


def _matches(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _numbers(value: Any) -> list[int]:
    return sorted({int(m.value) for m in _matches(value) if isinstance(m.value, int)})


def _guess(text: str) -> dict[str, Any]:
    from guessit import guessit

    with _lock:
        return dict(guessit(text, _OPTIONS))


def parse_western(text: str, air_date: date | None = None) -> ParsedName:
    """Parse a name without Korean markers; ``air_date`` was already taken out of it."""
    text = _SEASON_DASH_EPISODE.sub(lambda m: f"S{int(m.group(1)):02d}E{int(m.group(2)):02d}", text)
    found = _guess(text)
    titles = _matches(found.get("title"))
    title = clean_title(titles[0].raw) if titles else ""
    seasons, episodes, years = (_numbers(found.get(k)) for k in ("season", "episode", "year"))
    seasons = [n for n in seasons if n < 100]  # "Reply 1988 - 03": guessit also calls 1988 a season
    season = seasons[0] if seasons else None
    episode = episodes[0] if episodes else None
    episode_end = episodes[-1] if len(episodes) > 1 else None
    if air_date is None:
        dates = [m.value for m in _matches(found.get("date")) if isinstance(m.value, date)]
        air_date = dates[0] if dates else None
    # A year with nothing before it is a name of its own ("2019.mkv"), not the year of no title.
    year = years[0] if years and title else None
    return ParsedName(title, year, season, episode, episode_end, air_date, season == 0)
