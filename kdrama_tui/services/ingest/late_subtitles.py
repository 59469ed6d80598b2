"""Subtitles that arrive after their video: a subtitle whose video is still in
the folder goes with that video. One that is alone is matched, by the same name rule as sidecars
(:func:`~kdrama_tui.services.ingest.sidecars.sidecar_tags`), against the videos imported from its folder
(``ingested_files``) and added to it as a new HLS subtitle rendition through ``SubtitleTracks.add``, then
removed from the folder like an imported sidecar. A video still transcoding keeps it waiting in the
folder until the video is ready; one that matches nothing waits ``ingest.late_subtitle_timeout_seconds``
(its video may come later and take it) and then goes to ``failed/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.media import subtitles
from kdrama_tui.media.errors import SubtitleError
from kdrama_tui.models import IngestedFile, Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.ingest.importer import FAILED_DIR, IngestFailure, _open_regular, move_to_failed
from kdrama_tui.services.ingest.sidecars import is_sidecar_name, language_of, sidecar_tags
from kdrama_tui.services.library.handoff import SUBTITLE_EXTENSIONS
from kdrama_tui.services.transcoding.tracks import SubtitleTracks

log = logging.getLogger(__name__)


def is_subtitle_name(name: str) -> bool:
    return Path(name).suffix.lower() in SUBTITLE_EXTENSIONS


@dataclass(frozen=True)
class LateOutcome:
    """What became of a subtitle that arrived without its video."""

    status: Literal["attached", "already_attached", "waiting", "failed"]
    reason: str = ""
    video_id: int | None = None
    moved_to: Path | None = None


class LateSubtitles:
    """Attaches a subtitle dropped on its own to the video imported earlier under the same name.

    Matching: the marks of files imported from the subtitle's folder whose stem makes the subtitle their
    sidecar (``Show.S01E03.mkv`` for ``Show.S01E03.ko.srt``); the longest such stem wins (``Name.ko.mkv``
    over ``Name.mkv`` for ``Name.ko.srt``), then the latest import whose video still exists.

    Decisions: a video not yet ready keeps the subtitle waiting in the folder (the transcode job read its
    sources when it started, so adding one now would be missed; ``SubtitleTracks.add`` works on ready
    videos only); a video whose transcode failed sends it to ``failed/``. A track of the same language is
    replaced (the newer file is usually the better one; the event says ``replaced``). The language comes
    from the name's tag, else from the file (a SAMI class such as ``KRCC``); with neither it is refused.

    Restart safety: after the track is stored, an ``ingested_files`` mark (the subtitle's SHA-256 and path)
    is written, then the file is removed. The same file found again at the same place (a removal
    interrupted by a crash) is recognised by that mark, or, when the crash came before the mark, by a
    ``subtitle_source`` of the video with the same checksum, and is only removed, never attached twice.
    """

    def __init__(self, db: Database, events: EventBus, tracks: SubtitleTracks, timeout: float) -> None:
        self.db = db
        self.events = events
        self.tracks = tracks
        self.timeout = timeout

    async def handle(self, path: Path, root: Path | None, waited: float, *, keep: bool = False) -> LateOutcome:
        """Attach ``path`` if its video is ready; ``waited`` is how long it has been alone so far.

        ``root`` is the watch folder whose ``failed/`` takes a refused file (None: leave it where it is, as
        ``kdrama-tui ingest`` does outside watch folders); ``keep`` leaves an attached file in place
        (``ingest --copy``)."""
        data, sha256 = await asyncio.to_thread(_read_subtitle, path)
        mark = await repos_of(self.db).ingested_files.find(sha256, str(path))
        if mark is not None and mark.video_id is not None \
                and await repos_of(self.db).videos.find_by_id(mark.video_id) is not None:
            return self._already(path, mark.video_id, sha256, keep)
        found = await self._match(path)
        if found is None:
            if waited < self.timeout:
                return LateOutcome("waiting", f"waiting for its video: no imported video is named like "
                                              f"{path.name} in this folder")
            return await self.fail(path, root, (
                f"no video matched: no video imported from {path.parent} has the name this subtitle "
                f"belongs to (the subtitle's name minus its language tags and extension, e.g. "
                f"Show.S01E03.ko.srt belongs to Show.S01E03.mkv); waited {waited:.0f} s. Drop it again "
                f"next to its video, or after the video was imported from the same folder."))
        video, tags, video_mark = found
        if _changed_before(path, video_mark.ingested_at):
            # It sat beside its video when the video was imported and was not taken then (another file
            # gave that language: text formats win; or it was too large): a leftover, not a new choice.
            return await self.fail(path, root, (
                f"it was already beside its video when video {video.id} \"{video.title}\" was imported and "
                f"was not taken then (another subtitle of that language was preferred, or it was too large); "
                f"drop it again to use it instead (it then replaces that language's track)"), video.id)
        if video.status == "failed":
            return await self.fail(path, root, f"its video {video.id} \"{video.title}\" failed to transcode; "
                                          f"drop the subtitle again once the video plays", video.id)
        if video.status != "ready":
            return LateOutcome("waiting", f"waiting for video {video.id} to finish processing", video.id)
        language, label = language_of(tags)
        if language is None:
            try:
                parsed = await asyncio.to_thread(subtitles.parse_subtitles, data, path.suffix.lower())
            except SubtitleError as exc:
                return await self.fail(path, root, f"the subtitle file could not be read: {exc}", video.id)
            language = next((t.language for t in parsed if t.language), None)
            if language is None:
                return await self.fail(path, root, "its language is unknown: put a language tag in its name "
                                              f"(e.g. {path.stem}.ko{path.suffix}) and drop it again", video.id)
        files = await repos_of(self.db).video_files.find_by_video(video.id, "subtitle_source")
        if any(f.checksum == sha256 for f in files):  # attached before a crash that came before the mark
            await self._record(path, sha256, len(data), video.id)
            return self._already(path, video.id, sha256, keep)
        try:
            added = await self.tracks.add(video.id, data, filename=path.name, language=language, label=label,
                                          replace=True)
        except Conflict as exc:
            if exc.code == "video_not_ready":  # a re-transcode started meanwhile
                return LateOutcome("waiting", f"waiting for video {video.id} to finish processing", video.id)
            raise
        except ValidationError as exc:
            return await self.fail(path, root, exc.message, video.id)
        await self._record(path, sha256, len(data), video.id)
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stored as the video's subtitle_source: the folder empties, as for an import
        verb = "replaced the" if added.replaced else "added a"
        log.info("subtitle %s %s %s track of video %d %r", path, verb, added.language, video.id, video.title)
        self.events.publish("ingest.ingested", path=str(path), name=path.name, video_id=video.id,
                            title=video.title, sha256=sha256, size=len(data), subtitle=added.language,
                            label=added.label, replaced=bool(added.replaced))
        return LateOutcome("attached", video_id=video.id)

    async def _match(self, path: Path) -> tuple[Video, list[str], IngestedFile] | None:
        candidates = []
        for mark in await repos_of(self.db).ingested_files.in_folder(str(path.parent)):
            source = Path(mark.source_path)
            if source.parent != path.parent or mark.video_id is None or is_sidecar_name(source.name):
                continue  # a sub-folder's file, a deleted video, or a subtitle attached earlier
            tags = sidecar_tags(source.stem, path.name)
            if tags is not None:
                candidates.append((len(source.stem), mark.id, mark, tags))
        for _, _, mark, tags in sorted(candidates, key=lambda c: c[:2], reverse=True):
            video = await repos_of(self.db).videos.find_by_id(mark.video_id)
            if video is not None:
                return video, tags, mark
        return None

    async def _record(self, path: Path, sha256: str, size: int, video_id: int) -> None:
        marks = await repos_of(self.db).ingested_files.find_by_video(video_id)
        video_mark = next((m for m in marks if not is_sidecar_name(Path(m.source_path).name)), None)
        await repos_of(self.db).ingested_files.record({
            "sha256": sha256, "source_path": str(path), "file_size": size, "video_id": video_id,
            "show_title": video_mark.show_title if video_mark else None,
            "season": video_mark.season if video_mark else None,
            "episode": video_mark.episode if video_mark else None})

    def _already(self, path: Path, video_id: int, sha256: str, keep: bool = False) -> LateOutcome:
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        log.info("subtitle %s was already attached to video %d", path, video_id)
        self.events.publish("ingest.duplicate", path=str(path), name=path.name, video_id=video_id,
                            sha256=sha256, already_ingested=True)
        return LateOutcome("already_attached", video_id=video_id)

    async def fail(self, path: Path, root: Path | None, reason: str, video_id: int | None = None) -> LateOutcome:
        moved_to = None
        if root is not None:
            try:
                moved_to = await asyncio.to_thread(move_to_failed, path, root, reason)
            except OSError as exc:
                log.error("could not move %s to %s/: %s", path, FAILED_DIR, exc)
        log.warning("subtitle %s not attached: %s", path, reason)
        self.events.publish("ingest.failed", path=str(path), name=path.name, reason=reason, video_id=video_id,
                            moved_to=str(moved_to) if moved_to else None)
        return LateOutcome("failed", reason, video_id, moved_to)


def _changed_before(path: Path, when: datetime | None) -> bool:
    """Whether the file's inode last changed (created, renamed in) before ``when``; copy tools can keep an
    old mtime but never an old ctime."""
    if when is None:
        return False
    try:
        ctime = datetime.fromtimestamp(path.lstat().st_ctime, UTC)
    except OSError:
        return False
    return ctime < (when if when.tzinfo else when.replace(tzinfo=UTC))


def _read_subtitle(path: Path) -> tuple[bytes, str]:
    fd = _open_regular(path)  # no symlinks, FIFOs or devices: the same checks as for videos
    try:
        with os.fdopen(fd, "rb") as f:
            fd = -1
            data = f.read(subtitles.MAX_SUBTITLE_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > subtitles.MAX_SUBTITLE_BYTES:
        raise IngestFailure(f"the subtitle file is larger than {subtitles.MAX_SUBTITLE_BYTES >> 20} MiB")
    if not data.strip():
        raise IngestFailure("the subtitle file is empty")
    return data, hashlib.sha256(data).hexdigest()
