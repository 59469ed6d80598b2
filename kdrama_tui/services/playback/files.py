"""What a player may fetch below ``/hls/<id>/`` and the facts playback keeps in memory about a video.

Path rules (a plain relative name, a known extension, at most three levels) and content types live here
beside the cached records, so the route and the service read them from one place.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from kdrama_tui.services.playback.tokens import token_fingerprint
from kdrama_tui.storage import Storage, keys

# What a player may fetch below /hls/<id>/ and what it is. Anything else is a 404.
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
_PATH_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_MAX_DEPTH = 3
TOKEN_BODIES_KEPT = 8  # per playlist: bounded memory beside the 64 MiB of cached text


def clean_hls_path(path: str) -> str | None:
    """``720p/seg_00001.m4s`` as given in the URL, or None if it is anything but a plain relative name.

    No ``..``, no empty or hidden parts, no backslashes, NUL or other odd characters, at most three
    levels, and a known extension: whatever the URL decoding produced, the result stays in the folder.
    """
    if not path or len(path) > 300:
        return None
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH or not all(_PATH_PART.match(p) and ".." not in p for p in parts):
        return None
    return path if os.path.splitext(parts[-1])[1].lower() in CONTENT_TYPES else None


def content_type(path: str) -> str:
    return CONTENT_TYPES[os.path.splitext(path)[1].lower()]


def is_playlist(path: str) -> bool:
    return path.endswith(".m3u8")


def is_rewritten_text(path: str) -> bool:
    """Files served from memory with tokens written in: playlists and the seek-preview WebVTT."""
    return is_playlist(path) or path == "thumbs/thumbs.vtt"


def is_segment(path: str) -> bool:
    """Media that never changes once published (long, immutable caching)."""
    return os.path.splitext(path)[1].lower() in (".m4s", ".ts", ".mp4", ".m4a", ".aac")


@dataclass(frozen=True)
class Track:
    lang: str
    label: str
    path: str  # relative to the video's hls folder


@dataclass(frozen=True)
class VideoAccess:
    """What the HLS route needs to know about a video, without asking the database."""

    video_id: int
    owner_id: int
    is_public: bool
    status: str
    duration_seconds: int | None
    provider: str | None  # storage of the HLS files (the master playlist's row); None = nothing to play
    subtitles: tuple[Track, ...] = ()
    poster: str | None = None
    thumbnails_vtt: str | None = None
    hls_root: str | None = None  # the real path of the local hls folder, for the symlink check
    loaded_at: float = field(default_factory=time.monotonic)

    @property
    def playable(self) -> bool:
        return self.status == "ready" and self.provider is not None

    @property
    def prefix(self) -> str:
        return keys.hls_folder(self.video_id)


@dataclass(slots=True)
class RenderedText:
    """One body of a cached text as sent: public, or with one token written in."""

    body: bytes
    etag: str
    headers: dict[str, str] | None = None  # the response headers for it, built once by the route


@dataclass
class CachedText:
    parts: list[str]  # the text cut where tokens go (see hls_text)
    public_body: bytes
    etag: str
    last_modified: float
    size: int
    loaded_at: float = field(default_factory=time.monotonic)
    last_modified_http: str = ""
    public: RenderedText = field(init=False)
    _by_token: dict[str, RenderedText] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.last_modified_http = formatdate(self.last_modified, usegmt=True)
        self.public = RenderedText(self.public_body, self.etag)

    def render(self, token: str | None) -> RenderedText:
        """The body for this token and its ETag; recent tokens' bodies are kept (a player asks again)."""
        if token is None:
            return self.public
        found = self._by_token.get(token)
        if found is None:
            if len(self._by_token) >= TOKEN_BODIES_KEPT:
                self._by_token.clear()
            found = self._by_token[token] = RenderedText(token.join(self.parts).encode("utf-8"),
                                                         f"{self.etag}-{token_fingerprint(token)}")
        return found


@dataclass(frozen=True, slots=True)
class Located:
    """The answer to "what is this HLS request?": exactly one of ``text``, ``local``, ``redirect`` or
    ``storage`` (an object at ``access.prefix + path`` of ``size`` bytes) is set."""

    access: VideoAccess
    path: str
    text: CachedText | None = None  # a playlist or the seek-preview WebVTT, from memory
    local: str | None = None  # a regular file inside the video's real local folder
    redirect: str | None = None  # a presigned URL of the object
    storage: Storage | None = None
    size: int = 0
