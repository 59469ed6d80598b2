"""Dialogs of the Series section: a series' fields, an episode's placement, its intro/outro segments.

Checks mirror services/series/fields.py so most mistakes are caught here with a plain message; the server
checks again (a taken episode number only it can know) and its message is shown the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.validation import Function, Length
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, TextArea

from kdrama_tui.tui.screens.forms import FormModal

FORM_CSS = ["modal.tcss", "series.tcss"]  # one line per field

MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_SEASON, MAX_EPISODE = 999, 9999
STATUSES = ("completed", "airing")


def names(text: str) -> list[str]:
    """"a, b ,, c" -> ["a", "b", "c"] (the API takes lists; the form takes commas)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _whole(low: int, high: int, optional: bool = True) -> Function:
    def ok(text: str) -> bool:
        text = text.strip()
        return (optional and not text) or (text.isdigit() and low <= int(text) <= high)

    return Function(ok, f"a whole number from {low} to {high}")


def seconds(text: str) -> float | None:
    """"90", "1:30" or "1:02:03" -> seconds; "" -> None; ValueError otherwise."""
    text = text.strip()
    if not text:
        return None
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    if not 0 <= total <= 86_400:
        raise ValueError("out of range")
    return total


def clock(value: float | None) -> str:
    if value is None:
        return ""
    whole = int(value)
    text = f"{whole // 60}:{whole % 60:02d}"
    return text + (f"{value - whole:.1f}"[1:] if value != whole else "")


def row(label: str, field: Widget) -> Horizontal:
    """A one-line labelled field, so a long form still fits 80x24."""
    return Horizontal(Label(label, classes="row-label"), field, classes="form-row")


class SeriesFormModal(FormModal[dict[str, Any]]):
    """A new series (every field) or changes to one (only what changed); ``placement`` adds season and
    episode fields, for a series created from an unmatched video."""

    CSS_PATH = FORM_CSS

    SUBMIT_LABEL = "Save"

    def __init__(self, series: dict[str, Any] | None = None, *, title: str = "",
                 placement: tuple[int | None, int | None] | None = None, heading: str = "") -> None:
        super().__init__()
        self.series = series
        self.start_title = title
        self.placement = placement
        self.TITLE_TEXT = heading or (f"Edit series {series['id']}" if series else "New series")
        if series is None:
            self.SUBMIT_LABEL = "Create"

    def compose_fields(self) -> ComposeResult:
        s = self.series or {}
        yield row("Title *", Input(s.get("title") or self.start_title, placeholder="title", id="title",
                                   validators=[Length(minimum=1, maximum=200)], compact=True))
        yield row("Native title", Input(s.get("native_title") or "", placeholder="native title (한글)",
                                        id="native_title", validators=[Length(maximum=200)], compact=True))
        yield row("Alt titles", Input(", ".join(s.get("alt_titles") or []), placeholder="alt titles, commas",
                                      id="alt_titles", compact=True))
        yield row("Year", Input(str(s.get("year") or ""), placeholder="year", id="year",
                                validators=[_whole(MIN_YEAR, MAX_YEAR)], compact=True))
        yield row("Genres", Input(", ".join(s.get("genres") or []), placeholder="genres, commas", id="genres",
                                  compact=True))
        yield row("Network", Input(s.get("network") or "", placeholder="network", id="network",
                                   validators=[Length(maximum=100)], compact=True))
        yield row("Status", Select([(v, v) for v in STATUSES], value=s.get("status") or "completed",
                                   allow_blank=False, id="status", compact=True))
        if self.placement is not None:
            season, episode = self.placement
            yield row("Season", Input("" if season is None else str(season), placeholder="season (1)",
                                      id="season", validators=[_whole(0, MAX_SEASON)], compact=True))
            yield row("Episode *", Input("" if episode is None else str(episode), placeholder="episode",
                                         id="episode", validators=[_whole(0, MAX_EPISODE, optional=False)],
                                         compact=True))
        yield Label("Synopsis", classes="field-label")
        yield TextArea(s.get("synopsis") or "", id="synopsis", compact=True, soft_wrap=True)

    def collect(self) -> dict[str, Any]:
        if not self.value("title"):
            raise ValueError("title is required")
        alt, genres = names(self.value("alt_titles")), names(self.value("genres"))
        if len(alt) > 50 or any(len(n) > 200 for n in alt):
            raise ValueError("alt titles: at most 50, each up to 200 characters")
        if len(genres) > 20 or any(len(g) > 50 for g in genres):
            raise ValueError("genres: at most 20, each up to 50 characters")
        synopsis = self.query_one("#synopsis", TextArea).text.strip()
        if len(synopsis) > 20_000:
            raise ValueError("synopsis: at most 20000 characters")
        year = self.value("year")
        wanted: dict[str, Any] = {
            "title": self.value("title"), "native_title": self.value("native_title") or None, "alt_titles": alt,
            "year": int(year) if year else None, "genres": genres, "network": self.value("network") or None,
            "status": str(self.query_one("#status", Select).value), "synopsis": synopsis or None}
        if self.series is None:
            result = wanted
        else:
            old = {k: self.series.get(k) for k in wanted}
            old["alt_titles"], old["genres"] = old["alt_titles"] or [], old["genres"] or []
            result = {k: v for k, v in wanted.items() if v != (old[k] if old[k] != "" else None)}
            if not result:
                raise ValueError("nothing changed")
        if self.placement is not None:
            result = {"series": result, "season": int(self.value("season") or 1),
                      "episode": int(self.value("episode"))}
        return result


class EpisodeFormModal(FormModal[dict[str, Any]]):
    """Where a video goes in a series: season, episode, optional end (two episodes in one file).

    ``videos`` or ``series`` give a choice (which video to attach, or to which series); with neither, the
    video and series are known (renumbering)."""

    CSS_PATH = FORM_CSS

    def __init__(self, heading: str, *, season: int | None = 1, episode: int | None = None,
                 end: int | None = None, videos: Iterable[tuple[str, int]] = (),
                 series: Iterable[tuple[str, int]] = (), submit: str = "Attach") -> None:
        super().__init__()
        self.TITLE_TEXT = heading
        self.SUBMIT_LABEL = submit
        self.start = (season, episode, end)
        self.videos = list(videos)
        self.series = list(series)

    def compose_fields(self) -> ComposeResult:
        season, episode, end = self.start
        if self.videos:
            yield row("Video", Select(self.videos, prompt="choose a video", id="video", compact=True))
        if self.series:
            yield row("Series", Select(self.series, prompt="choose a series", id="series", compact=True))
        yield row("Season", Input("" if season is None else str(season), placeholder="season (1; 0 = specials)",
                                  id="season", validators=[_whole(0, MAX_SEASON)], compact=True))
        yield row("Episode *", Input("" if episode is None else str(episode), placeholder="episode", id="episode",
                                     validators=[_whole(0, MAX_EPISODE, optional=False)], compact=True))
        yield row("Ends at", Input("" if end is None else str(end), placeholder="last episode (two in one file)",
                                   id="episode_end", validators=[_whole(0, MAX_EPISODE)], compact=True))

    def collect(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, label in (("video", "video"), ("series", "series")):
            if self.query(f"#{name}"):
                chosen = self.query_one(f"#{name}", Select).value
                if not isinstance(chosen, int):
                    raise ValueError(f"choose a {label}")
                out[f"{name}_id"] = chosen
        episode = int(self.value("episode"))
        end = self.value("episode_end")
        if end and int(end) <= episode:
            raise ValueError("ends at: must be after the episode number (or left empty)")
        out.update(season=int(self.value("season") or 1), episode=episode, episode_end=int(end) if end else None)
        return out


class SegmentsFormModal(FormModal[dict[str, Any]]):
    """Intro and outro of an episode (seconds or m:ss; empty clears it); other segment types are kept."""

    CSS_PATH = FORM_CSS

    SUBMIT_LABEL = "Save"

    def __init__(self, episode: dict[str, Any], season_size: int) -> None:
        super().__init__()
        self.episode = episode
        self.season_size = season_size
        self.TITLE_TEXT = f"Segments of S{episode.get('season') or 0:02d}E{episode.get('episode') or 0:02d} " \
                          f"{episode.get('title') or ''}"

    def compose_fields(self) -> ComposeResult:
        current = {s["type"]: s for s in self.episode.get("segments") or []}
        for kind in ("intro", "outro"):
            seg = current.get(kind, {})
            yield row(f"{kind.title()} from", Input(clock(seg.get("start")), placeholder="start (m:ss)",
                                                    id=f"{kind}_start", compact=True))
            yield row(f"{kind.title()} to", Input(clock(seg.get("end")), placeholder="end (m:ss)",
                                                  id=f"{kind}_end", compact=True))
        yield Checkbox(f"Apply to all {self.season_size} episodes of season {self.episode.get('season') or 0}",
                       id="whole_season", compact=True)

    def collect(self) -> dict[str, Any]:
        kept = [s for s in self.episode.get("segments") or [] if s["type"] not in ("intro", "outro")]
        made: list[dict[str, Any]] = []
        for kind in ("intro", "outro"):
            try:
                start, end = seconds(self.value(f"{kind}_start")), seconds(self.value(f"{kind}_end"))
            except ValueError:
                raise ValueError(f"{kind}: times are seconds or m:ss, up to 24 hours") from None
            if start is None and end is None:
                continue
            if start is None or end is None:
                raise ValueError(f"{kind}: give both start and end, or neither")
            if end <= start:
                raise ValueError(f"{kind}: the end must come after the start")
            made.append({"type": kind, "start": start, "end": end})
        return {"segments": made + [{"type": s["type"], "start": s["start"], "end": s["end"]} for s in kept],
                "whole_season": self.query_one("#whole_season", Checkbox).value}
