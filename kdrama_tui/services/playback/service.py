"""Who may play what, and the playlists they get: kept in memory so segment requests never hit the database.

Per video the service caches a :class:`VideoAccess` (visibility, status, owner, the storage provider of its
HLS files, its subtitle and image files) and the text of every playlist served, pre-split for token
insertion (:mod:`kdrama_tui.services.playback.hls_text`). Entries are dropped when the video changes: directly by
the catalog in this process, and through the event bus for everything else (``video.*``, ``job.*``; a
``kdrama-tui worker``'s job events arrive through the job relay, ``services/transcoding/relay.py``, other
web nodes' changes through PostgreSQL NOTIFY, ``services/cluster/events.py``). A
time-to-live (``streaming.cache_seconds``) bounds staleness for what no event announces (an edit made
with the CLI, say). A generation counter stops a load that raced with an invalidation from caching what
it read before the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Mapping

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, Forbidden, NotFound
from kdrama_tui.events import EventBus
from kdrama_tui.models import VideoFile
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.playback.audience import Audience
from kdrama_tui.services.playback.files import (
    CachedText,
    Located,
    Track,
    VideoAccess,
    clean_hls_path,
    is_playlist,
    is_rewritten_text,
)
from kdrama_tui.services.playback.hls_text import split_playlist, split_thumbnails_vtt
from kdrama_tui.services.playback.tokens import PlaybackTokens
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

_HLS_FILE_TYPES = ["master_playlist", "subtitle", "thumbnail", "sprite", "sprite_vtt"]
# cluster.events_resumed: messages from other nodes may have been missed (services/cluster/events.py).
_INVALIDATING = ("video.", "job.finished", "job.failed", "job.cancelled", "cluster.events_resumed")
PLAYLIST_CACHE_BYTES = 64 * 1024 * 1024
ACCESS_CACHE_ENTRIES = 20_000
MISSING_TTL_SECONDS = 5.0
RECHECK_AFTER_SECONDS = 1.0  # a missing file re-reads the video's rows at most this often


def _read_with_mtime(path: str) -> tuple[bytes, float]:
    with open(path, "rb") as f:
        return f.read(), os.fstat(f.fileno()).st_mtime


def _track_label(file: VideoFile) -> str:
    return file.label or (file.language or "").upper() or "Subtitles"


class PlaybackService:
    def __init__(self, db: Database, settings: Settings, storages: Mapping[str, Storage], events: EventBus,
                 secret: bytes) -> None:
        self.db = db
        self.settings = settings
        self.storages = storages
        self.events = events
        self.tokens = PlaybackTokens(secret, settings.security.playback_token_minutes * 60)
        self.ttl = settings.streaming.cache_seconds
        self._access: OrderedDict[int, VideoAccess | tuple[float, None]] = OrderedDict()
        self._texts: OrderedDict[tuple[int, str], CachedText] = OrderedDict()
        self._text_bytes = 0
        self._generation = 0
        self._loading: dict[int, asyncio.Future[VideoAccess | None]] = {}
        self.stats = {"access_loads": 0, "text_loads": 0}
        self.audience = Audience()  # who fetched HLS files in the last minute: "viewers now"

    # ---- invalidation -----------------------------------------------------------------------------
    def use_secret(self, secret: bytes) -> None:
        """Sign and verify with another key from now on (the cluster's key was rotated): every token
        issued under the old one stops working, remembered verifications included."""
        self.tokens = PlaybackTokens(secret, self.tokens.lifetime_seconds)

    def invalidate(self, video_id: int | None = None) -> None:
        """Forget what is cached about one video (or everything)."""
        self._generation += 1
        if video_id is None:
            self._access.clear()
            self._texts.clear()
            self._text_bytes = 0
            return
        self._access.pop(video_id, None)
        for key in [k for k in self._texts if k[0] == video_id]:
            self._text_bytes -= self._texts.pop(key).size

    async def watch_events(self) -> None:
        """Drop cache entries of videos that changed anywhere in this process (runs as a background task)."""
        async for event in self.events.stream():
            if event.type.startswith(_INVALIDATING):
                self.db.hold_primary()  # a replica may not have the change yet: reload from the primary
                video_id = event.data.get("video_id")
                self.invalidate(int(video_id) if isinstance(video_id, int) else None)

    # ---- access -----------------------------------------------------------------------------------
    async def access(self, video_id: int) -> VideoAccess | None:
        """The video's cached access facts; None when there is no such video."""
        entry = self._access.get(video_id)
        now = time.monotonic()
        if isinstance(entry, VideoAccess):
            if now - entry.loaded_at < self.ttl:
                self._access.move_to_end(video_id)
                return entry
        elif entry is not None and now - entry[0] < min(self.ttl, MISSING_TTL_SECONDS):
            return None
        pending = self._loading.get(video_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[VideoAccess | None] = asyncio.get_running_loop().create_future()
        self._loading[video_id] = future
        generation = self._generation
        try:
            loaded = await self._load_access(video_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            self._loading.pop(video_id, None)
        future.set_result(loaded)
        if generation == self._generation:
            self._access[video_id] = loaded if loaded is not None else (time.monotonic(), None)
            self._access.move_to_end(video_id)
            while len(self._access) > ACCESS_CACHE_ENTRIES:
                self._access.popitem(last=False)
        return loaded

    async def _load_access(self, video_id: int) -> VideoAccess | None:
        self.stats["access_loads"] += 1
        reads = self.db.reads  # anyone's lookup: a replica that keeps up will do (see watch_events)
        video = await repos_of(reads).videos.find_by_id(video_id)
        if video is None:
            return None
        files = await repos_of(reads).video_files.list({"video_id": video_id, "file_type": _HLS_FILE_TYPES},
                                                     order_by="id")
        prefix = keys.hls_folder(video_id)
        provider = None
        subtitles: dict[str, Track] = {}
        poster = thumbs = None
        for f in files:
            if not f.file_path.startswith(prefix):
                continue
            rel = f.file_path[len(prefix):]
            if f.file_type == "master_playlist" and rel == "master.m3u8":
                provider = f.storage_provider
            elif f.file_type == "subtitle" and rel.endswith(".vtt") and f.language:
                subtitles[f.language] = Track(f.language, _track_label(f), rel)
            elif f.file_type == "thumbnail":
                poster = rel
            elif f.file_type == "sprite_vtt":
                thumbs = rel
        hls_root = None
        if provider is not None and provider in self.storages:
            local = self.storages[provider].local_path(prefix.rstrip("/"))
            hls_root = os.path.realpath(local) if local is not None else None
        return VideoAccess(
            video_id=video.id, owner_id=video.uploader_user_id, is_public=bool(video.is_public),
            status=video.status, duration_seconds=video.duration_seconds, provider=provider,
            subtitles=tuple(subtitles.values()), poster=poster, thumbnails_vtt=thumbs, hls_root=hls_root)

    async def authorize(self, video_id: int, token: str | None) -> VideoAccess:
        """The access facts of a playable video the caller may fetch files of, or 401/403/404."""
        return self._permit(await self.access(video_id), video_id, token)

    def authorize_cached(self, video_id: int, token: str | None) -> VideoAccess | None:
        """:meth:`authorize` without awaiting, for the hot path: None when the video is not cached."""
        entry = self._access.get(video_id)
        if not isinstance(entry, VideoAccess) or time.monotonic() - entry.loaded_at >= self.ttl:
            return None
        self._access.move_to_end(video_id)
        return self._permit(entry, video_id, token)

    def _permit(self, access: VideoAccess | None, video_id: int, token: str | None) -> VideoAccess:
        if access is None or not access.playable:
            raise NotFound("no such video, or it is not ready")
        if not access.is_public:
            self.tokens.verify(token, video_id)
        return access

    async def locate(self, video_id: int, raw_path: str, token: str | None) -> Located:
        """Everything the HLS route needs for one request, in one question: the path checked, the caller
        authorized, and where the bytes are (memory, a local file, a presigned URL or an object).

        A file missing because ``storage migrate`` moved the video's files (another process) is found again
        on the new provider once, instead of a 404 until the cache expires."""
        path = clean_hls_path(raw_path)
        if path is None:
            raise NotFound("not found")
        access = await self.authorize(video_id, token)
        try:
            return await self._locate(access, path)
        except NotFound:
            if await self.moved(access) is None:
                raise
            return await self._locate(await self.authorize(video_id, token), path)

    async def _locate(self, access: VideoAccess, path: str) -> Located:
        if is_rewritten_text(path):
            return Located(access, path, text=await self.text(access, path))
        local = self.local_file(access, path)
        if local is not None:
            return Located(access, path, local=local)
        storage = self.storage(access)
        delivery = self.settings.storage
        if delivery.delivery == "presigned":
            url = await storage.url(access.prefix + path, delivery.presign_seconds)
            if url:
                return Located(access, path, redirect=url)
        try:
            size = await storage.size(access.prefix + path)
        except (FileNotFoundError, KeyError):
            raise NotFound("not found") from None
        return Located(access, path, storage=storage, size=size)

    async def moved(self, access: VideoAccess) -> VideoAccess | None:
        """Fresh access facts if the video's files now live on another provider than ``access`` says, else
        None. Called when a file is missing: ``kdrama-tui storage migrate`` (another process) switches the
        rows and deletes the old copies, and this process's cache would answer 404 until its TTL ran out.
        Rate-limited per video so requests for files that really are missing do not hit the database."""
        if time.monotonic() - access.loaded_at < RECHECK_AFTER_SECONDS:
            return None
        self.invalidate(access.video_id)
        fresh = await self.access(access.video_id)
        if fresh is None or fresh.provider == access.provider:
            return None
        return fresh

    def storage(self, access: VideoAccess) -> Storage:
        assert access.provider is not None
        storage = self.storages.get(access.provider)
        if storage is None:
            raise NotFound(f"the files of this video are on {access.provider!r}, which is not configured")
        return storage

    def local_file(self, access: VideoAccess, path: str) -> str | None:
        """The local file for ``path`` (a :func:`clean_hls_path`) if the video's storage is local; raises
        NotFound unless it is a regular file reached from the video's real folder through real directories:
        a symlink anywhere below that folder is refused, so nothing outside it is ever served.

        At most three ``lstat`` calls: no ``realpath`` of the whole path on every segment request."""
        if access.hls_root is None:
            if self.storage(access).local_path(access.prefix.rstrip("/")) is None:
                return None  # object storage
            raise NotFound("not found")
        parts = path.split("/")
        full = access.hls_root
        for depth, part in enumerate(parts, 1):
            full = f"{full}{os.sep}{part}"
            try:
                mode = os.lstat(full).st_mode
            except OSError:
                raise NotFound("not found") from None
            wanted = stat.S_ISREG if depth == len(parts) else stat.S_ISDIR
            if not wanted(mode):
                raise NotFound("not found")
        return full

    # ---- playlists and other rewritten text -------------------------------------------------------
    def fresh_text(self, video_id: int, path: str) -> CachedText | None:
        """A cached playlist, if there is a fresh one (only validated paths are ever cached)."""
        cached = self._texts.get((video_id, path))
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl:
            return cached
        return None

    async def text(self, access: VideoAccess, path: str) -> CachedText:
        key = (access.video_id, path)
        cached = self._texts.get(key)
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl:
            self._texts.move_to_end(key)
            return cached
        generation = self._generation
        loaded = await self._load_text(access, path)
        if generation == self._generation:
            old = self._texts.pop(key, None)
            if old is not None:
                self._text_bytes -= old.size
            self._texts[key] = loaded
            self._text_bytes += loaded.size
            while self._text_bytes > PLAYLIST_CACHE_BYTES and len(self._texts) > 1:
                self._text_bytes -= self._texts.popitem(last=False)[1].size
        return loaded

    async def _load_text(self, access: VideoAccess, path: str) -> CachedText:
        self.stats["text_loads"] += 1
        local = self.local_file(access, path)
        if local is not None:
            try:
                raw, modified = await asyncio.to_thread(_read_with_mtime, local)
            except OSError:
                raise NotFound("not found") from None
        else:
            storage = self.storage(access)
            try:
                raw = b"".join([block async for block in storage.read(access.prefix + path)])
            except (FileNotFoundError, KeyError):
                raise NotFound("not found") from None
            modified = time.time()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotFound("this playlist is not valid UTF-8") from None
        parts = split_playlist(text) if is_playlist(path) else split_thumbnails_vtt(text)
        etag = hashlib.blake2s(raw, digest_size=10).hexdigest()
        return CachedText(parts=parts, public_body=raw, etag=etag, last_modified=modified,
                          size=len(raw) + sum(len(p) for p in parts))

    # ---- what the watch page and the playback API hand out ----------------------------------------
    def urls(self, access: VideoAccess, base: str = "", token: str | None = None) -> dict[str, object]:
        """Playback URLs for one video; a private one's carry ``token`` (already verified by the caller)
        or a fresh one."""
        expires = None
        if access.is_public:
            token = None
        elif token is None:
            token, expires = self.tokens.issue(access.video_id)
        else:
            expires = int(token.partition(".")[0])
        root = f"{base}/hls/{access.video_id}/"

        def url(path: str | None) -> str | None:
            if path is None:
                return None
            return root + path + (f"?token={token}" if token else "")

        return {
            "hls_url": url("master.m3u8"),
            "thumbnail_url": url(access.poster),
            "thumbnails_vtt_url": url(access.thumbnails_vtt),
            "subtitles": [{"lang": t.lang, "label": t.label, "url": url(t.path)} for t in access.subtitles],
            "duration_seconds": access.duration_seconds,
            "is_public": access.is_public,
            "token": token,
            "token_expires_at": expires,
        }

    async def playback(self, video_id: int, *, viewer_id: int | None, admin: bool, base: str = "") -> dict:
        """``GET /api/videos/{id}/playback``: private videos only for their owner or an admin."""
        access = await self.access(video_id)
        if access is None:
            raise NotFound("video not found")
        if not access.is_public and not admin and viewer_id != access.owner_id:
            if viewer_id is None:
                raise NotFound("video not found")
            raise Forbidden("this video is private", code="video_private")
        if not access.playable:
            raise Conflict(f"this video is not ready to play (status {access.status})", code="video_not_ready")
        data = self.urls(access, base)
        data["watch_url"] = f"{base}/watch/{video_id}" + (f"?token={data['token']}" if data["token"] else "")
        return data

    async def close(self) -> None:
        for future in self._loading.values():
            with contextlib.suppress(Exception):
                future.cancel()
