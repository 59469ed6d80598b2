"""Placing an imported file in its series: the show it names (created when new), the episode number.

Runs inside the transaction that accepts the original (``Library.accept_original(in_transaction=...)``),
so a file is either a placed episode or a lone video the admin is told about, never half of each. It only
attaches when it is sure: one series matches the name (its title, native or alternative title, or their
romanization, folded as search keys compare them) and the numbers are free. Otherwise the video is
recorded in ``unmatched_videos`` with the reason and stays a lone video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kdrama_tui.db import Executor
from kdrama_tui.errors import ValidationError
from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.series import episodes as ops
from kdrama_tui.services.series.fields import clean_episode, clean_series

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodeGuess:
    """What the name and the sidecars say; ``series_fields`` come from the show folder's JSON."""

    show_title: str
    year: int | None = None
    season: int | None = None
    episode: int | None = None
    episode_end: int | None = None
    episode_title: str | None = None
    air_date: Any = None
    special: bool = False
    series_fields: dict[str, Any] = field(default_factory=dict)
    source_name: str | None = None
    series_error: str | None = None  # the show folder's JSON could not be read
    series_id: int | None = None  # the uploader named the series by id: no matching by name

    @property
    def is_episode(self) -> bool:
        """Whether the name says episode at all (a film has neither number nor a season)."""
        return self.episode is not None or self.season is not None or self.special


@dataclass(frozen=True)
class Placement:
    series_id: int | None = None
    created: bool = False
    reason: str | None = None  # why it was not placed (recorded as unmatched)


async def _unmatched(db: Executor, video: Video, guess: EpisodeGuess, reason: str) -> Placement:
    await repos_of(db).unmatched.record({
        "video_id": video.id, "reason": reason, "source_name": guess.source_name,
        "show_title": guess.show_title[:200], "season": guess.season, "episode": guess.episode})
    log.info("video %d (%s) not placed in a series: %s", video.id, guess.source_name, reason)
    return Placement(reason=reason)


async def place(db: Executor, video: Video, guess: EpisodeGuess) -> Placement:
    """Attach ``video`` as the episode ``guess`` names, or record why not (see module doc)."""
    if not guess.is_episode:
        return Placement()
    if guess.series_error:
        return await _unmatched(db, video, guess, f"the show's JSON was not read: {guess.series_error}")
    try:
        fields = clean_series({"year": guess.year, **guess.series_fields, "title": guess.series_fields.get("title")
                               or guess.show_title}, partial=False)
    except ValidationError as exc:
        return await _unmatched(db, video, guess, f"the show's JSON was not accepted: {exc.message}")
    season = guess.season if guess.season is not None else (0 if guess.special else 1)
    episode = guess.episode
    if episode is None and not guess.special:
        return await _unmatched(db, video, guess, "the name gives no episode number")
    if guess.series_id is not None:
        named = await repos_of(db).series.find_by_id(guess.series_id)
        if named is None:
            return await _unmatched(db, video, guess, f"series {guess.series_id} does not exist")
        matches = [named]
    else:
        matches = await ops.find_for_name(db, fields["title"], fields.get("year"))
    if len(matches) > 1:
        names = ", ".join(f"{s.id} \"{s.title}\"" for s in matches[:5])
        return await _unmatched(db, video, guess, f"several series match \"{fields['title']}\": {names}")
    series, created = (matches[0], False) if matches else (await ops.create_series(db, fields), True)
    if episode is None:  # a special without a number of its own (5.5화): the next free one of season 0
        numbers = [v.episode_number_end or v.episode_number or 0
                   for v in await repos_of(db).series.episodes(series.id, ops.EVERYTHING, season=season)]
        episode = max(numbers, default=0) + 1
    try:
        columns = clean_episode({"season": season, "episode": episode, "episode_end": guess.episode_end,
                                 "episode_title": guess.episode_title, "air_date": guess.air_date}, partial=False)
    except ValidationError as exc:
        return await _unmatched(db, video, guess, f"episode fields not accepted: {exc.message}")
    end = columns.get("episode_number_end")
    if (holder := await ops.holder(db, series.id, season, episode, end)) is not None:
        return await _unmatched(db, video, guess, f"{ops.label(season, episode, end)} of \"{series.title}\" is "
                                                  f"already video {holder.id} \"{holder.title}\"")
    await ops.attach(db, series, video.id, columns)
    return Placement(series_id=series.id, created=created)


def upload_guess(metadata: dict[str, Any], filename: str) -> EpisodeGuess:
    """The episode an upload's metadata names (see ``fields.clean_upload_episode``)."""
    series = metadata.get("series")
    if series is None:
        return EpisodeGuess(show_title="", source_name=filename)
    return EpisodeGuess(show_title=series if isinstance(series, str) else f"series {series}",
                        series_id=series if isinstance(series, int) else None, season=metadata.get("season"),
                        episode=metadata.get("episode"), episode_end=metadata.get("episode_end"),
                        episode_title=metadata.get("episode_title"), source_name=filename)
