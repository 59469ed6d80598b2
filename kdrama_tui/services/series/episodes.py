"""Series and episode writes over one executor, so the admin API and ingest place episodes the same way
(ingest does it inside the transaction that accepts the original).

An episode is a span of numbers in one season (``episode``..``episode_end``, a single number without an
end); two videos of a series may not overlap in a season. The UNIQUE index of migration 0009 guards the
first number against races; the overlap check here covers two-episode files. Both answer 409
``episode_taken`` naming the video that holds the number.
"""

from __future__ import annotations

from typing import Any

from kdrama_tui.db import Executor
from kdrama_tui.errors import Conflict, NotFound, UniqueViolation
from kdrama_tui.models import Series, Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.series import Visibility
from kdrama_tui.services.series.search_keys import genre_keys, search_key, series_keys, sort_title

EVERYTHING = Visibility(admin=True)  # writes check every number, whoever can see the episode
EPISODE_COLUMNS = ("season_number", "episode_number", "episode_number_end", "episode_title", "air_date")


def derived_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The folded columns of a series whose (merged) fields are ``fields``."""
    names = [fields.get("title"), fields.get("native_title"), *(fields.get("alt_titles") or [])]
    return {"sort_title": sort_title(fields["title"]), "title_key": search_key(fields["title"]),
            "search_keys": series_keys(names), "genre_keys": genre_keys(fields.get("genres") or [])}


async def create_series(db: Executor, fields: dict[str, Any]) -> Series:
    return await repos_of(db).series.create({**fields, **derived_columns(fields)})


async def update_series(db: Executor, series: Series, changes: dict[str, Any]) -> Series:
    merged = {name: changes.get(name, getattr(series, name)) for name in
              ("title", "native_title", "alt_titles", "genres")}
    updated = await repos_of(db).series.update(series.id, {**changes, **derived_columns(merged)})
    if updated is None:
        raise NotFound("series not found")
    return updated


def label(season: int, episode: int, end: int | None = None) -> str:
    return f"S{season:02d}E{episode:02d}" + (f"-E{end:02d}" if end is not None else "")


def _span(video: Video) -> tuple[int, int]:
    start = video.episode_number or 0
    return start, video.episode_number_end or start


async def holder(db: Executor, series_id: int, season: int, episode: int, end: int | None,
                 *, ignore: int | None = None) -> Video | None:
    """The video of the series that already covers any number of ``episode..end`` in ``season``."""
    low, high = episode, end if end is not None else episode
    for video in await repos_of(db).series.episodes(series_id, EVERYTHING, season=season):
        if video.id != ignore:
            start, stop = _span(video)
            if start <= high and low <= stop:
                return video
    return None


def taken(series: Series, season: int, episode: int, end: int | None, video: Video) -> Conflict:
    return Conflict(f"{label(season, episode, end)} of \"{series.title}\" is already video {video.id} "
                    f"\"{video.title}\"", code="episode_taken",
                    details={"series_id": series.id, "season": season, "episode": episode, "video_id": video.id})


async def attach(db: Executor, series: Series, video_id: int, columns: dict[str, Any]) -> Video:
    """Make video ``video_id`` the episode ``columns`` describes (season_number, episode_number, ...)."""
    video = await repos_of(db).videos.find_by_id(video_id)
    if video is None:
        raise NotFound("video not found", details={"field": "video_id"})
    season, episode = columns["season_number"], columns["episode_number"]
    end = columns.get("episode_number_end")
    if (other := await holder(db, series.id, season, episode, end, ignore=video_id)) is not None:
        raise taken(series, season, episode, end, other)
    try:
        updated = await repos_of(db).videos.update(video_id, {"series_id": series.id, **columns})
    except UniqueViolation:  # a concurrent attach won the number between the check and the write
        other = await holder(db, series.id, season, episode, end, ignore=video_id)
        if other is None:
            raise
        raise taken(series, season, episode, end, other) from None
    await repos_of(db).unmatched.resolve(video_id)
    assert updated is not None
    return updated


async def detach(db: Executor, video_id: int) -> Video | None:
    return await repos_of(db).videos.update(video_id, {"series_id": None, **dict.fromkeys(EPISODE_COLUMNS)})


async def find_for_name(db: Executor, title: str, year: int | None) -> list[Series]:
    """Series one of whose names folds to the same key as ``title``; with a year, a series of another
    year is another show (remakes share titles), and one of the same year wins over one without."""
    found = await repos_of(db).series.find_by_key(search_key(title))
    if year is not None:
        found = [s for s in found if s.year in (None, year)]
        same_year = [s for s in found if s.year == year]
        found = same_year or found
    return found
