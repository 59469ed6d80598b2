"""Editing a video's metadata: checked here as the server will check it, only changed fields are sent."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.validation import Function, Length
from textual.widgets import Input, TextArea

from kdrama_tui.tui.results import Video
from kdrama_tui.tui.screens.forms import FormModal

MIN_YEAR, MAX_YEAR = 1900, 2100  # as services/metadata.py accepts


def _year_ok(text: str) -> bool:
    text = text.strip()
    return not text or (text.isdigit() and MIN_YEAR <= int(text) <= MAX_YEAR)


def _actors(text: str) -> list[str]:
    return [name for name in (part.strip() for part in text.split(",")) if name]


class VideoEditModal(FormModal[dict[str, Any]]):
    SUBMIT_LABEL = "Save"

    def __init__(self, video: Video) -> None:
        super().__init__()
        self.video = video
        self.TITLE_TEXT = f"Edit video {video.id}"

    def compose_fields(self) -> ComposeResult:
        video = self.video
        yield self.field("Title (required, up to 200 characters)")
        yield Input(video.title or "", placeholder="title", id="title",
                    validators=[Length(minimum=1, maximum=200)], compact=True)
        yield self.field(f"Year ({MIN_YEAR}-{MAX_YEAR}, may be empty)")
        yield Input(str(video.year or ""), placeholder="year", id="year",
                    validators=[Function(_year_ok, f"a year from {MIN_YEAR} to {MAX_YEAR}")], compact=True)
        yield self.field("Genre")
        yield Input(video.genre or "", placeholder="genre", id="genre", validators=[Length(maximum=100)],
                    compact=True)
        yield self.field("Actors (comma-separated)")
        yield Input(", ".join(video.actors or []), placeholder="actors", id="actors", compact=True,
                    validators=[Function(lambda v: len(_actors(v)) <= 100, "at most 100 names")])
        yield self.field("Description")
        yield TextArea(video.description or "", id="description", compact=True, soft_wrap=True)

    def collect(self) -> dict[str, Any]:
        title = self.value("title")
        if not title:
            raise ValueError("title is required")
        year_text = self.value("year")
        description = self.query_one("#description", TextArea).text.strip()
        if len(description) > 10_000:
            raise ValueError("description: at most 10000 characters")
        wanted: dict[str, Any] = {
            "title": title, "year": int(year_text) if year_text else None, "genre": self.value("genre") or None,
            "actors": _actors(self.value("actors")), "description": description or None,
        }
        old = {"title": self.video.title, "year": self.video.year,
               "genre": self.video.genre or None, "actors": self.video.actors or [],
               "description": (self.video.description or "").strip() or None}
        changes = {k: v for k, v in wanted.items() if v != old[k]}
        if not changes:
            raise ValueError("nothing changed")
        return changes
