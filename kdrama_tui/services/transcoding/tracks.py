"""Adding a subtitle track to a video that is already streaming, without re-encoding anything.

The new WebVTT file and its media playlist are stored, then the master playlist is rewritten (a new object
replacing the old one atomically) with every subtitle track the video has. The uploaded file is also kept
as a ``subtitle_source`` beside the original, so a later re-transcode brings the track along. With
``replace=True`` the video's tracks and sources of the same language are dropped in the same step (the
watch folder's late subtitles use it): the master then lists only the new one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, Forbidden, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.media import hls, subtitles
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.errors import MediaError, SubtitleError
from kdrama_tui.media.transcoder import OutputFile, mpegts_start_offset, write_subtitle_tracks
from kdrama_tui.models import Video, VideoFile
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.library.handoff import SUBTITLE_EXTENSIONS
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

_FORMAT_EXTENSIONS = {"srt": ".srt", "vtt": ".vtt", "ass": ".ass", "ssa": ".ssa", "sami": ".smi"}


@dataclass(frozen=True)
class AddedTrack:
    language: str
    label: str
    path: str  # storage key of the .vtt
    replaced: int = 0  # tracks of the same language it replaced (replace=True)

    def to_dict(self, video_id: int) -> dict[str, Any]:
        relative = self.path.split("/hls/", 1)[1]
        return {"lang": self.language, "label": self.label, "url": f"/hls/{video_id}/{relative}",
                "playlist": f"/hls/{video_id}/{relative[:-4]}.m3u8"}


class SubtitleTracks:
    def __init__(self, db: Database, storage: Storage, storages: Mapping[str, Storage], events: EventBus,
                 settings: Settings, binaries: Binaries) -> None:
        self.db = db
        self.storage = storage
        self.storages = storages
        self.events = events
        self.settings = settings
        self.binaries = binaries
        self._locks: dict[int, asyncio.Lock] = {}

    async def video_for(self, video_id: int, user_id: int, *, is_admin: bool) -> Video:
        """The video a caller may add a track to: its owner's or, for an admin, any (NotFound, Forbidden).

        Asked before the upload is read, so a refused caller's file is never received."""
        video = await repos_of(self.db).videos.get(video_id)
        if not is_admin and video.uploader_user_id != user_id:
            raise Forbidden("only the video's owner or an admin can add subtitles", code="not_owner")
        return video

    async def add(self, video_id: int, data: bytes, *, filename: str = "", language: str | None,
                  label: str | None, replace: bool = False) -> AddedTrack:
        lang = subtitles.normalize_language(language)
        if not lang:
            raise ValidationError("lang must be a language tag such as ko, en or pt-BR", code="invalid_language")
        label = " ".join((label or "").split())[:100] or None
        extension = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
        try:
            text_kind = subtitles.detect_format(subtitles.decode_text(data[:65536]), extension)
            tracks = subtitles.parse_subtitles(data, extension, lang, label)
        except SubtitleError as exc:
            raise ValidationError(f"the subtitle file could not be read: {exc}", code="invalid_subtitle",
                                  status=422) from None
        if extension not in SUBTITLE_EXTENSIONS:
            extension = _FORMAT_EXTENSIONS.get(text_kind, ".srt")
        # A SAMI file may hold several languages: take the one asked for, else the first.
        track = next((t for t in tracks if (t.language or "").split("-")[0] == lang.split("-")[0]), tracks[0])
        track.language, track.label = lang, label or subtitles.language_name(lang)
        if len(tracks) > 1:  # keep just the chosen language as the source, so a re-transcode brings only it
            data, extension = subtitles.render_webvtt(track.cues).encode("utf-8"), ".vtt"
        lock = self._locks.setdefault(video_id, asyncio.Lock())
        async with lock:
            return await self._add_locked(video_id, track, data, extension, replace)

    async def _add_locked(self, video_id: int, track: subtitles.Track, data: bytes, extension: str,
                          replace: bool = False) -> AddedTrack:
        video = await repos_of(self.db).videos.get(video_id)
        files = await repos_of(self.db).video_files.find_by_video(video_id)
        master_row = next((f for f in files if f.file_type == "master_playlist"), None)
        original = next((f for f in files if f.file_type == "original"), None)
        if video.status != "ready" or master_row is None or original is None:
            raise Conflict("subtitles can be added once the video is ready", code="video_not_ready")
        if await repos_of(self.db).jobs.active_for_video(video_id) is not None:
            # Playable early (or re-transcoding): the job's final master playlist would drop the new track.
            raise Conflict("subtitles can be added once the video's transcode has finished", code="video_not_ready")
        prefix = keys.hls_folder(video_id)
        master_storage = self._storage(master_row)
        master_text = b"".join([chunk async for chunk in master_storage.read(master_row.file_path)]).decode("utf-8")
        variants = hls.parse_master_variants(master_text)
        existing = [f for f in files if f.file_type == "subtitle"]
        replaced = [f for f in files if replace and f.file_type in ("subtitle", "subtitle_source")
                    and f.language == track.language]
        taken = {PurePosixPath(f.file_path).stem for f in existing}  # the new track never reuses an old URL
        work = self.settings.work_dir / f"subtitle-{video_id}-{secrets.token_hex(4)}"
        (work / "hls").mkdir(parents=True)
        try:
            offset = await self._mpegts_offset(files, work)
            outputs: list[OutputFile] = []
            write_subtitle_tracks([track], work / "hls", float(video.duration_seconds or 1), offset, outputs, taken)
            source_key = await self._source_key(original, files, extension)
            (work / "source").write_bytes(data)
            entries = [hls.SubtitleTrack(uri=f.file_path[len(prefix):], language=f.language or "und",
                                         name=f.label or subtitles.language_name(f.language))
                       for f in existing if f.file_path.endswith(".m3u8") and f not in replaced]
            entries += [hls.SubtitleTrack(uri=o.path, language=o.language or "und", name=o.label or "")
                        for o in outputs if o.path.endswith(".m3u8")]
            (work / "hls" / "master.m3u8").write_text(hls.render_master(variants, entries), encoding="utf-8")
            rows = []
            for output in outputs:
                stored = await self.storage.put_file(prefix + output.path, work / "hls" / output.path, move=True)
                rows.append(_row(video_id, self.storage.provider, stored, output.file_type, output.mime_type,
                                 output.language, output.label))
            stored_source = await self.storage.put_file(source_key, work / "source", move=True)
            rows.append(_row(video_id, self.storage.provider, stored_source, "subtitle_source", "text/plain",
                             track.language, track.label))
            master = await master_storage.put_file(master_row.file_path, work / "hls" / "master.m3u8", move=True)
            async with self.db.transaction() as tx:
                await repos_of(tx).video_files.create_many(rows)
                for old in replaced:
                    await repos_of(tx).video_files.delete(old.id)
                await repos_of(tx).video_files.update(master_row.id, {"file_size": master.size,
                                                                  "checksum": master.sha256})
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        for old in replaced:  # no row names them any more; a leftover object is harmless
            try:
                await self._storage(old).delete(old.file_path)
            except Exception as exc:
                log.warning("could not delete the replaced subtitle file %s: %s", old.file_path, exc)
        vtt = next(o for o in outputs if o.path.endswith(".vtt"))
        count = sum(1 for f in replaced if f.file_type == "subtitle" and f.file_path.endswith(".m3u8"))
        added = AddedTrack(language=track.language or "und", label=track.label or "", path=prefix + vtt.path,
                           replaced=count)
        self.events.publish("video.updated", video_id=video_id, subtitle_added=added.language,
                            subtitle_replaced=count)
        return added

    def _storage(self, row: VideoFile) -> Storage:
        storage = self.storages.get(row.storage_provider)
        if storage is None:
            raise MediaError(f"files stored on {row.storage_provider!r} but that provider is not configured")
        return storage

    async def _mpegts_offset(self, files: list[VideoFile], work: Path) -> int | None:
        """The X-TIMESTAMP-MAP offset when the ladder uses MPEG-TS segments (None for fMP4)."""
        first = next((f for f in files if f.file_type.startswith("transcoded_")
                      and f.file_path.endswith("/seg_00001.ts")), None)
        if first is None:
            return None
        storage = self._storage(first)
        local = storage.local_path(first.file_path)
        if local is None or not local.is_file():
            local = work / "first.ts"
            await storage.get_to_file(first.file_path, local)
        return await mpegts_start_offset(self.binaries.ffmpeg, local)

    async def _source_key(self, original: VideoFile, files: list[VideoFile], extension: str) -> str:
        folder = keys.folder_of_original(original.file_path)
        used = {f.file_path for f in files}
        n = sum(1 for f in files if f.file_type == "subtitle_source")
        while True:
            key = keys.original_subtitle(folder, n, extension)
            if key not in used and not await self.storage.exists(key):
                return key
            n += 1


def _row(video_id: int, provider: str, stored: Any, file_type: str, mime: str, language: str | None,
         label: str | None) -> dict[str, Any]:
    return {"video_id": video_id, "file_type": file_type, "storage_provider": provider, "file_path": stored.key,
            "file_size": stored.size, "checksum": stored.sha256, "mime_type": mime, "language": language,
            "label": label}

