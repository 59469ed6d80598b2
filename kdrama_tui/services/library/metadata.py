"""Video metadata as uploaders and admins give it: validated once, the same for every entry point."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kdrama_tui.errors import ValidationError

FIELDS = ("title", "description", "year", "genre", "actors", "is_public")


@dataclass
class VideoMetadata:
    title: str
    description: str | None = None
    year: int | None = None
    genre: str | None = None
    actors: list[str] = field(default_factory=list)
    is_public: bool = True

    def to_columns(self) -> dict[str, Any]:
        return asdict(self)


def _text(data: dict[str, Any], name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text", code="invalid_metadata")
    value = value.replace("\x00", "").strip()
    if len(value) > limit:
        raise ValidationError(f"{name} must be at most {limit} characters", code="invalid_metadata")
    return value or None


def clean_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate the known fields present in ``data``; unknown keys (``status``, ``owner_id``...) are ignored."""
    out: dict[str, Any] = {}
    if "title" in data or not partial:
        title = _text(data, "title", 200)
        if not title:
            raise ValidationError("title is required", code="invalid_metadata")
        out["title"] = title
    if "description" in data:
        out["description"] = _text(data, "description", 10_000)
    if "genre" in data:
        out["genre"] = _text(data, "genre", 100)
    if "year" in data:
        year = data["year"]
        if year in (None, ""):
            out["year"] = None
        else:
            if isinstance(year, str) and year.strip().isdigit():
                year = int(year)
            if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2100:
                raise ValidationError("year must be a number between 1900 and 2100", code="invalid_metadata")
            out["year"] = year
    if "actors" in data:
        actors = data["actors"]
        if isinstance(actors, str):
            actors = [a for a in (p.strip() for p in actors.split(",")) if a]
        if actors is None:
            actors = []
        if not isinstance(actors, list) or not all(isinstance(a, str) for a in actors) or len(actors) > 100:
            raise ValidationError("actors must be a list of at most 100 names", code="invalid_metadata")
        actors = [a.replace("\x00", "").strip()[:100] for a in actors if a.strip()]
        out["actors"] = actors
    if "is_public" in data:
        value = data["is_public"]
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            value = value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ValidationError("is_public must be true or false", code="invalid_metadata")
        out["is_public"] = value
    return out


def parse_metadata(data: dict[str, Any] | None, fallback_title: str) -> VideoMetadata:
    """Metadata for a new video; the title falls back to the file's name."""
    data = dict(data or {})
    if not data.get("title"):
        data["title"] = fallback_title[:200] or "Untitled"
    return VideoMetadata(**clean_fields(data, partial=False))
