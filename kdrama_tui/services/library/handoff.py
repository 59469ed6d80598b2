"""The one hand-off from "a complete original file exists" to "a video is queued for transcoding".

Completed uploads (chunk API and tus) and the watch-folder ingester all end here, so a video is always
created the same way: the file is moved into storage under a generated key (the user's filename is kept
only as data), then one transaction creates the ``videos`` row (status ``processing``), the ``original``
``video_files`` row, a ``subtitle_source`` row per sidecar subtitle, and a queued transcoding job. If the
transaction fails, the stored objects are removed again, so nothing is left half-made.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kdrama_tui.db import Database, Executor
from kdrama_tui.errors import ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import TranscodingJob, Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.library.metadata import VideoMetadata
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
SUBTITLE_EXTENSIONS = {".srt", ".vtt", ".ass", ".ssa", ".smi", ".sami"}


@dataclass(frozen=True)
class SubtitleSidecar:
    path: Path
    language: str | None = None  # "ko", "en"... from the file name; None when unknown
    label: str | None = None


@dataclass(frozen=True)
class AcceptedVideo:
    video: Video
    job: TranscodingJob
    original_key: str
    sha256: str
    size: int


def safe_extension(filename: str) -> str:
    """The original's extension if it is a plain one (``.mkv``), else none: it never becomes a path."""
    suffix = Path(filename.replace("\\", "/")).suffix.lower()
    return suffix if _EXTENSION.match(suffix) else ""


def display_filename(filename: str) -> str:
    """The user's filename as data: no directories, control characters or bidi overrides; 255 chars."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "\u202a\u202b\u202c\u202d\u202e"
                   "\u2066\u2067\u2068\u2069")
    return name.strip()[:255] or "upload"


class Library:
    def __init__(self, db: Database, storage: Storage, events: EventBus) -> None:
        self.db = db
        self.storage = storage
        self.events = events

    async def accept_original(
        self,
        *,
        uploader_id: int,
        source: Path,
        original_filename: str,
        metadata: VideoMetadata,
        sidecars: list[SubtitleSidecar] | tuple[SubtitleSidecar, ...] = (),
        expected_sha256: str | None = None,
        move: bool = True,
        priority: int = 5,
        extra_video_columns: dict[str, object] | None = None,
        in_transaction: Callable[[Executor, Video], Awaitable[None]] | None = None,
        known_sha256: str | None = None,
    ) -> AcceptedVideo:
        """Store ``source`` as a new video's original and queue its transcode (see module doc).

        ``in_transaction(tx, video)`` runs inside the transaction that creates the video (an upload marks
        itself completed there), so a retried hand-off can never make a second video; raising in it
        undoes everything. ``known_sha256``: the file's digest, computed as its bytes were written (a tus
        upload), so storage need not read the file again to hash it.
        """
        if not 1 <= priority <= 10:
            raise ValidationError("priority must be 1-10")
        folder = keys.new_original_folder()
        original_key = keys.original_source(folder, safe_extension(original_filename))
        stored_keys: list[str] = []
        try:
            known = {"sha256": known_sha256} if known_sha256 else {}
            stored = await self.storage.put_file(original_key, source, move=move, **known)
            stored_keys.append(original_key)
            if expected_sha256 and stored.sha256 != expected_sha256.lower():
                raise ValidationError("the assembled file's SHA-256 does not match the one given at creation",
                                      code="checksum_mismatch")
            subtitle_rows = []
            for i, sidecar in enumerate(sidecars):
                ext = sidecar.path.suffix.lower()
                if ext not in SUBTITLE_EXTENSIONS:
                    continue
                key = keys.original_subtitle(folder, i, ext)
                sub = await self.storage.put_file(key, sidecar.path, move=False)
                stored_keys.append(key)
                subtitle_rows.append((sub, sidecar))
            async with self.db.transaction() as tx:
                video = await repos_of(tx).videos.create({
                    **metadata.to_columns(),
                    "original_filename": display_filename(original_filename),
                    "uploader_user_id": uploader_id,
                    "status": "processing",
                    **(extra_video_columns or {}),
                })
                await repos_of(tx).video_files.create({
                    "video_id": video.id, "file_type": "original", "storage_provider": self.storage.provider,
                    "file_path": original_key, "file_size": stored.size, "checksum": stored.sha256,
                    "mime_type": mimetypes.guess_type(original_filename)[0] or "application/octet-stream",
                })
                for sub, sidecar in subtitle_rows:
                    await repos_of(tx).video_files.create({
                        "video_id": video.id, "file_type": "subtitle_source",
                        "storage_provider": self.storage.provider, "file_path": sub.key,
                        "file_size": sub.size, "checksum": sub.sha256, "mime_type": "text/plain",
                        "language": sidecar.language, "label": sidecar.label,
                    })
                job = await repos_of(tx).jobs.queue(video.id, priority=priority, provider="local_server")
                if in_transaction is not None:
                    await in_transaction(tx, video)
        except BaseException:
            if move and stored_keys and not source.exists():
                with contextlib.suppress(Exception):  # give the caller its file back: nothing is lost
                    await self.storage.get_to_file(original_key, source)
            for key in stored_keys:
                with contextlib.suppress(Exception):
                    await self.storage.delete(key)
            raise
        self.events.publish("video.created", video_id=video.id, title=video.title, uploader_id=uploader_id)
        self.events.publish("job.queued", job_id=job.id, video_id=video.id, priority=priority)
        log.info("video %d %r accepted (%d bytes), job %d queued", video.id, video.title, stored.size, job.id)
        return AcceptedVideo(video=video, job=job, original_key=original_key, sha256=stored.sha256,
                             size=stored.size)
