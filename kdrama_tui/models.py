"""Rows as dataclasses, one per table.

``from_row`` converts what either backend returns (SQLite gives text timestamps, 0/1 booleans and JSON text;
PostgreSQL gives datetimes, booleans and decoded JSONB) into the same Python values, so code above the
repositories never knows which database it talks to.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Self

Role = typing.Literal["admin", "user"]
VideoStatus = typing.Literal["uploading", "processing", "ready", "failed"]
UploadStatus = typing.Literal["pending", "uploading", "assembling", "completed", "failed", "aborted", "expired"]
ChunkStatus = typing.Literal["pending", "uploaded", "verified", "failed"]
JobStatus = typing.Literal["queued", "processing", "completed", "failed", "cancelled"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """A stored timestamp (datetime or SQLite text) as an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    """A stored calendar date (PostgreSQL DATE or SQLite ``YYYY-MM-DD`` text)."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    return date.fromisoformat(str(value)[:10])


def _converter(kind: Any) -> typing.Callable[[Any], Any] | None:
    base = kind
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # unwrap Optional only, never list[int]
        args = set(typing.get_args(kind)) - {type(None)}
        base = next(iter(args)) if len(args) == 1 else kind
    origin = typing.get_origin(base) or base
    if base is datetime:
        return parse_timestamp
    if base is date:
        return parse_date
    if base is bool:
        return lambda v: None if v is None else bool(v)
    if origin in (list, dict):
        return lambda v: json.loads(v) if isinstance(v, str) else v
    return None


@cache
def _converters(cls: type) -> dict[str, typing.Callable[[Any], Any] | None]:
    hints = typing.get_type_hints(cls)
    return {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}


class Model:
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        converters = _converters(cls)
        values = {}
        for name, convert in converters.items():
            if name in row:
                value = row[name]
                values[name] = convert(value) if convert and value is not None else value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, date) else value  # datetime is a date
        return out


@dataclass
class User(Model):
    id: int
    username: str
    email: str
    password_hash: str
    role: str = "user"
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def public_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        data.pop("password_hash")
        return data


@dataclass
class Video(Model):
    id: int
    title: str
    uploader_user_id: int
    description: str | None = None
    year: int | None = None
    genre: str | None = None
    actors: list[str] | None = None
    duration_seconds: int | None = None
    original_filename: str | None = None
    status: str = "uploading"
    is_public: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    source_sha256: str | None = None  # SHA-256 of the original; unique (0006)
    missing_reason: str | None = None  # set with status "failed" when its files were found gone (0012)
    # Search columns kept by VideoRepository (migration 0007); never shown to users.
    search_text: str | None = None
    actors_text: str | None = None
    # Episode of a series (0009); all None for a lone video.
    series_id: int | None = None
    season_number: int | None = None  # 0 = specials
    episode_number: int | None = None
    episode_number_end: int | None = None  # two episodes in one file: 1-2
    episode_title: str | None = None
    air_date: date | None = None


@dataclass
class ApiKey(Model):
    id: int
    user_id: int
    api_key: str  # SHA-256 hex of the key, never the key
    is_active: bool = True
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    name: str = ""
    key_prefix: str = ""
    revoked_at: datetime | None = None

    def public_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        data.pop("api_key")
        return data


@dataclass
class KeyPair(Model):
    id: int
    user_id: int
    public_key: str
    private_key: str  # AES-GCM ciphertext under the master key
    is_active: bool = True
    created_at: datetime | None = None
    expires_at: datetime | None = None
    algorithm: str = "EdDSA"


@dataclass
class Upload(Model):
    id: int
    user_id: int
    filename: str
    total_size: int | None  # None: a tus upload whose length is still deferred (0008)
    total_chunks: int
    video_id: int | None = None
    uploaded_chunks: list[int] = field(default_factory=list)
    status: str = "pending"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    # 0004: resumable uploads (see the migration's docstring)
    token: str = ""
    protocol: str = "chunk"
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_size: int | None = None
    bytes_received: int = 0
    expected_sha256: str | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    error_message: str | None = None
    tus_metadata: str | None = None  # 0010: Upload-Metadata as the tus client sent it (None: chunk API, older)


@dataclass
class UploadChunk(Model):
    id: int
    upload_id: int
    chunk_number: int
    chunk_size: int
    checksum: str
    status: str = "pending"
    uploaded_at: datetime | None = None
    verified_at: datetime | None = None


@dataclass
class TranscodingJob(Model):
    id: int
    video_id: int
    status: str = "queued"
    provider: str = "local_server"
    priority: int = 5
    input_format: str | None = None
    output_formats: list[str] | None = None
    job_id: str | None = None
    progress: int = 0
    error_message: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    # Queue bookkeeping (migration 0005): retries are new rows; a worker holds a job through a lease.
    attempt: int = 1
    retry_of_id: int | None = None
    run_after: datetime | None = None
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    claims: int = 0
    warnings: list[str] | None = None
    # Migration 0011: path taken (copy/full) and why, encoder, per-rendition ready/progress.
    ladder: dict[str, Any] | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ("queued", "processing")


@dataclass
class VideoFile(Model):
    id: int
    video_id: int
    file_type: str
    storage_provider: str
    file_path: str
    file_size: int
    checksum: str
    mime_type: str | None = None
    created_at: datetime | None = None
    language: str | None = None
    label: str | None = None


@dataclass
class UserSession(Model):
    id: int
    user_id: int
    refresh_token: str  # SHA-256 hex of the token
    expires_at: datetime
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    family_id: str = ""
    revoked_at: datetime | None = None
    replaced_by_id: int | None = None
    user_agent: str | None = None
    ip_address: str | None = None


@dataclass
class VideoView(Model):
    id: int
    video_id: int
    user_id: int | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    watch_duration: int | None = None
    viewed_at: datetime | None = None


@dataclass
class Comment(Model):
    id: int
    video_id: int
    content: str
    user_id: int | None = None
    facebook_comment_id: str | None = None
    is_approved: bool = True
    created_at: datetime | None = None


@dataclass
class IngestedFile(Model):
    """A file the watch-folder ingester took (0006)."""

    id: int
    sha256: str
    source_path: str
    file_size: int
    video_id: int | None = None
    show_title: str | None = None
    season: int | None = None
    episode: int | None = None
    ingested_at: datetime | None = None


SeriesStatus = typing.Literal["airing", "completed"]
SegmentType = typing.Literal["intro", "recap", "outro", "preview"]


@dataclass
class Series(Model):
    """A show whose episodes are videos (0009)."""

    id: int
    title: str
    sort_title: str
    title_key: str  # folded title: what ingest matches a show folder against
    native_title: str | None = None
    alt_titles: list[str] = field(default_factory=list)
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    synopsis: str | None = None
    poster: str | None = None  # a storage key or an http(s) URL
    network: str | None = None
    status: str = "completed"
    # Search columns kept by SeriesRepository; never shown to users.
    search_keys: str = ""
    genre_keys: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class EpisodeSegment(Model):
    id: int
    video_id: int
    type: str
    start_seconds: float
    end_seconds: float


@dataclass
class UnmatchedVideo(Model):
    """A file ingest imported as a lone video because it could not be placed in a series (0009)."""

    id: int
    video_id: int
    reason: str
    source_name: str | None = None
    show_title: str | None = None
    season: int | None = None
    episode: int | None = None
    created_at: datetime | None = None
