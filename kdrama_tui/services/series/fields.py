"""Series and episode fields as admins, sidecars and ingest give them: validated once, clear errors.

Every refusal is a ValidationError with code ``invalid_series`` / ``invalid_episode`` / ``invalid_segment``
and ``details.field`` naming the field, so the API answers 400 in the documented error shape.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from kdrama_tui.errors import ValidationError

STATUSES = ("airing", "completed")
SEGMENT_TYPES = ("intro", "recap", "outro", "preview")
SERIES_FIELDS = ("title", "native_title", "alt_titles", "year", "genres", "synopsis", "poster", "network",
                 "status")
EPISODE_FIELDS = ("season", "episode", "episode_end", "episode_title", "air_date")
MAX_SEASON, MAX_EPISODE = 999, 9999


def _fail(code: str, name: str, message: str) -> ValidationError:
    return ValidationError(message, code=code, details={"field": name})


def _text(data: dict[str, Any], name: str, limit: int, code: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(code, name, f"{name} must be text")
    value = unicodedata.normalize("NFC", value.replace("\x00", "")).strip()
    if len(value) > limit:
        raise _fail(code, name, f"{name} must be at most {limit} characters")
    return value or None


def _names(data: dict[str, Any], name: str, limit: int, most: int) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > most:
        raise _fail("invalid_series", name, f"{name} must be a list of at most {most} names")
    out: list[str] = []
    for item in value:
        item = unicodedata.normalize("NFC", item.replace("\x00", "")).strip()
        if len(item) > limit:
            raise _fail("invalid_series", name, f"each of {name} must be at most {limit} characters")
        if item and item not in out:
            out.append(item)
    return out


def integer(value: Any, name: str, low: int, high: int, code: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(code, name, f"{name} must be a whole number from {low} to {high}")
    return value


def clean_series(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Series columns from ``data`` (unknown keys ignored); ``title`` is required unless ``partial``."""
    out: dict[str, Any] = {}
    if "title" in data or not partial:
        title = _text(data, "title", 200, "invalid_series")
        if not title:
            raise _fail("invalid_series", "title", "title is required")
        out["title"] = title
    for name, limit in (("native_title", 200), ("synopsis", 20_000), ("network", 100)):
        if name in data:
            out[name] = _text(data, name, limit, "invalid_series")
    if "poster" in data:
        poster = _text(data, "poster", 500, "invalid_series")
        if poster and not (poster.startswith(("https://", "http://")) or
                           (poster.startswith("/") and not poster.startswith("//"))):
            raise _fail("invalid_series", "poster", "poster must be an http(s) URL or a path on this site")
        out["poster"] = poster
    if "alt_titles" in data:
        out["alt_titles"] = _names(data, "alt_titles", 200, 50)
    if "genres" in data:
        out["genres"] = _names(data, "genres", 50, 20)
    if "year" in data:
        out["year"] = None if data["year"] in (None, "") else integer(data["year"], "year", 1900, 2100,
                                                                         "invalid_series")
    if "status" in data or not partial:
        status = data.get("status") or "completed"
        if status not in STATUSES:
            raise _fail("invalid_series", "status", "status must be airing or completed")
        out["status"] = status
    return out


def parse_air_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail("invalid_episode", "air_date", "air_date must be a date as YYYY-MM-DD")


def clean_episode(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Episode placement from ``data``: season (default 1), episode, episode_end, episode_title, air_date.

    Returns video columns (season_number, episode_number, ...).
    """
    out: dict[str, Any] = {}
    if "season" in data or not partial:
        season = data.get("season")
        out["season_number"] = 1 if season in (None, "") else integer(season, "season", 0, MAX_SEASON,
                                                                      "invalid_episode")
    if "episode" in data or not partial:
        if data.get("episode") in (None, ""):
            raise _fail("invalid_episode", "episode", "episode is required")
        out["episode_number"] = integer(data["episode"], "episode", 0, MAX_EPISODE, "invalid_episode")
    if "episode_end" in data:
        end = data["episode_end"]
        out["episode_number_end"] = None if end in (None, "") else integer(end, "episode_end", 0, MAX_EPISODE,
                                                                           "invalid_episode")
    if "episode_title" in data:
        out["episode_title"] = _text(data, "episode_title", 200, "invalid_episode")
    if "air_date" in data:
        out["air_date"] = parse_air_date(data["air_date"])
    start, end = out.get("episode_number"), out.get("episode_number_end")
    if start is not None and end is not None and end <= start:
        raise _fail("invalid_episode", "episode_end", "episode_end must be greater than episode")
    return out


def clean_segments(value: Any) -> list[dict[str, Any]]:
    """``[{"type": "intro", "start": 0, "end": 90}, ...]`` -> segment rows; one of each type at most."""
    if not isinstance(value, list) or len(value) > len(SEGMENT_TYPES):
        raise _fail("invalid_segment", "segments", "segments must be a list of at most one intro, recap, "
                                                   "outro and preview")
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict):
            raise _fail("invalid_segment", "segments", "each segment must be an object with type, start, end")
        kind = item.get("type")
        if kind not in SEGMENT_TYPES:
            raise _fail("invalid_segment", "type", "type must be intro, recap, outro or preview")
        if any(s["type"] == kind for s in out):
            raise _fail("invalid_segment", "type", f"only one {kind} segment per episode")
        numbers = []
        for name in ("start", "end"):
            number = item.get(name)
            if not isinstance(number, int | float) or isinstance(number, bool) or not 0 <= number <= 86_400:
                raise _fail("invalid_segment", name, f"{name} must be seconds from 0 to 86400")
            numbers.append(float(number))
        if numbers[1] <= numbers[0]:
            raise _fail("invalid_segment", "end", "end must be after start")
        out.append({"type": kind, "start_seconds": numbers[0], "end_seconds": numbers[1]})
    return out


def clean_upload_episode(metadata: dict[str, Any]) -> dict[str, Any]:
    """The episode keys of upload metadata (tus Upload-Metadata values arrive as text): ``series`` (an id,
    or a title: created when new), ``season`` (default 1), ``episode``, ``episode_end``, ``episode_title``.
    Both ``series`` and ``episode`` or neither; returns the keys to keep with the upload."""
    given = {k: metadata.get(k) for k in ("series", "season", "episode", "episode_end", "episode_title")
             if metadata.get(k) not in (None, "")}
    if not given:
        return {}
    series = given.get("series")
    if series is None or given.get("episode") is None:
        missing = "series" if series is None else "episode"
        raise _fail("invalid_episode", missing, "give both series (id or title) and episode")
    if isinstance(series, int) and not isinstance(series, bool):
        series_ref: int | str = integer(series, "series", 1, 2**62, "invalid_episode")
    elif isinstance(series, str):
        text = _text(given, "series", 200, "invalid_episode") or ""
        series_ref = int(text) if text.isascii() and text.isdigit() else text
    else:
        raise _fail("invalid_episode", "series", "series must be a series id or a title")
    columns = clean_episode(given, partial=False)
    out: dict[str, Any] = {"series": series_ref, "season": columns["season_number"],
                           "episode": columns["episode_number"]}
    if columns.get("episode_number_end") is not None:
        out["episode_end"] = columns["episode_number_end"]
    if columns.get("episode_title"):
        out["episode_title"] = columns["episode_title"]
    return out
