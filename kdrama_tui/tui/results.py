"""Typed results of the admin API client, built from its JSON by one tolerant constructor per type.

Unknown keys are ignored, so a newer server that adds a field never breaks an older console; a field the
server leaves out takes its default.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self


class Result:
    """Base of every result type: ``from_json`` keeps the fields this type knows and drops the rest."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def many(cls, items: list[dict[str, Any]]) -> list[Self]:
        return [cls.from_json(item) for item in items]


@dataclasses.dataclass(frozen=True)
class Comment(Result):
    """A comment as the moderation list shows it (GET /api/admin/comments)."""

    id: int
    content: str = ""
    is_approved: bool = False
    video_id: int | None = None
    video_title: str = ""
    author: str | None = None
    created_at: str | None = None


@dataclasses.dataclass(frozen=True)
class User(Result):
    """An account (GET /api/admin/users)."""

    id: int
    username: str = ""
    email: str = ""
    role: str = "user"
    is_active: bool = True
    last_login_at: str | None = None
    created_at: str | None = None


@dataclasses.dataclass(frozen=True)
class ApiKey(Result):
    """An API key, never its secret (GET /api/admin/api-keys)."""

    id: int
    user_id: int | None = None
    username: str = ""
    name: str | None = None
    key_prefix: str = ""
    is_active: bool = True
    expires_at: str | None = None
    last_used_at: str | None = None
    created_at: str | None = None


@dataclasses.dataclass(frozen=True)
class Upload(Result):
    """An upload session in flight (GET /api/admin/uploads)."""

    id: int
    filename: str = ""
    uploader: str | None = None
    status: str = ""
    protocol: str = ""
    total_size: int | None = None
    bytes_received: int = 0
    progress: float | None = None  # 0-100, None while the length is deferred (tus)
    created_at: str | None = None

    @property
    def percent(self) -> float | None:
        if self.progress is not None:
            return max(0.0, min(100.0, float(self.progress)))
        if self.total_size:
            return max(0.0, min(100.0, 100.0 * self.bytes_received / self.total_size))
        return None


@dataclasses.dataclass(frozen=True)
class Job(Result):
    """A transcode job in queue order (GET /api/jobs); ``ladder`` stays the API's nested document."""

    id: int
    video_id: int = 0
    video_title: str | None = None
    status: str = ""
    priority: int = 5
    progress: float = 0
    attempt: int = 1
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error_message: str | None = None
    warnings: list[str] | None = None
    ladder: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Video(Result):
    """A video as the catalog API shows it to an admin (GET /api/videos)."""

    id: int
    title: str = ""
    year: int | None = None
    status: str = ""
    is_public: bool = True
    genre: str | None = None
    actors: list[str] | None = None
    description: str | None = None
    duration_seconds: float | None = None
    original_filename: str | None = None
    missing_reason: str | None = None  # set when a restore or the start-up check found its files gone
    watch_url: str | None = None
    series_id: int | None = None
    created_at: str | None = None

    @property
    def shown_status(self) -> str:
        """"missing" for a failed video whose files were found gone, else its status."""
        return "missing" if self.missing_reason else self.status


@dataclasses.dataclass(frozen=True)
class VideoPage(Result):
    """One page of the catalog: its videos and how many match in all."""

    items: list[Video]
    total: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(items=Video.many(data.get("items") or []), total=int(data.get("total") or 0))


@dataclasses.dataclass(frozen=True)
class VideoDetail(Result):
    """Everything the Videos section shows of one video (GET /api/admin/videos/{id}); ``views`` and
    ``comments`` are the API's small count documents."""

    video: Video
    jobs: list[Job] = dataclasses.field(default_factory=list)
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    renditions: list[str] = dataclasses.field(default_factory=list)
    subtitles: list[str] = dataclasses.field(default_factory=list)
    stored_bytes: int = 0
    views: dict[str, int] = dataclasses.field(default_factory=dict)
    comments: dict[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(video=Video.from_json(data["video"]), jobs=Job.many(data.get("jobs") or []),
                   files=list(data.get("files") or []), renditions=list(data.get("renditions") or []),
                   subtitles=list(data.get("subtitles") or []), stored_bytes=int(data.get("stored_bytes") or 0),
                   views=dict(data.get("views") or {}), comments=dict(data.get("comments") or {}))
