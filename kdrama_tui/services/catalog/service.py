"""The catalog: search, show, edit and delete videos, with the visibility rules in one place.

Anonymous callers see public, ready videos; a signed-in user also sees their own; admins see everything.
A video the caller may not see is a 404 (its existence is not revealed); one they may see but not change
is a 403.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdrama_tui.db import Database, Executor
from kdrama_tui.errors import Conflict, Forbidden, NotFound, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.videos import VideoSearch
from kdrama_tui.services.accounts.service import Principal
from kdrama_tui.services.library.metadata import clean_fields
from kdrama_tui.services.playback.service import PlaybackService
from kdrama_tui.storage import Storage, keys

log = logging.getLogger(__name__)

# "missing": failed videos whose files were found gone (videos.missing_reason), a filter for admins
STATUSES = ("uploading", "processing", "ready", "failed", "missing")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Viewer:
    """Who is looking, reduced to what visibility needs (None id = anonymous)."""

    user_id: int | None = None
    admin: bool = False

    def may_see(self, video: Video) -> bool:
        return self.admin or (video.status == "ready" and video.is_public) or video.uploader_user_id == self.user_id

    def may_change(self, video: Video) -> bool:
        return self.admin or (self.user_id is not None and video.uploader_user_id == self.user_id)

    @property
    def may_lag(self) -> bool:
        """An anonymous viewer has written nothing it must see at once, so its reads may come from a
        replica (``Database.reads``); a signed-in user or an admin reads its own writes from the primary."""
        return self.user_id is None and not self.admin


def reader(db: Database, viewer: Viewer) -> Executor:
    """Where ``viewer``'s catalog reads go (see :attr:`Viewer.may_lag`)."""
    return db.reads if viewer.may_lag else db


ANONYMOUS = Viewer()


class CatalogService:
    def __init__(self, db: Database, storages: Mapping[str, Storage], events: EventBus,
                 playback: PlaybackService) -> None:
        self.db = db
        self.storages = storages
        self.events = events
        self.playback = playback

    # ---- reading ----------------------------------------------------------------------------------
    async def search(self, viewer: Viewer, *, q: str | None = None, genre: str | None = None,
                     year: int | None = None, actor: str | None = None, status: str | None = None,
                     page: int = 1, per_page: int = 24, base: str = "") -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}", code="invalid_parameter")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValidationError(f"per_page must be between 1 and {MAX_PER_PAGE}", code="invalid_parameter")
        if page < 1:
            raise ValidationError("page must be at least 1", code="invalid_parameter")
        if q is not None and len(q) > 200:
            raise ValidationError("q must be at most 200 characters", code="invalid_parameter")
        search = VideoSearch(q=(q or "").strip() or None, genre=(genre or "").strip() or None, year=year,
                             actor=(actor or "").strip() or None, status=status, viewer_id=viewer.user_id,
                             admin=viewer.admin, limit=per_page, offset=(page - 1) * per_page)
        videos, total = await repos_of(reader(self.db, viewer)).videos.search(search)
        return {"items": [self.video_dict(v, viewer, base) for v in videos], "total": total,
                "page": page, "per_page": per_page}

    async def facets(self, viewer: Viewer) -> dict[str, list[Any]]:
        search = VideoSearch(viewer_id=viewer.user_id, admin=viewer.admin)
        genres, years = await repos_of(reader(self.db, viewer)).videos.facets(search)
        return {"genres": genres, "years": years}

    async def find(self, video_id: int) -> Video | None:
        """The video's row whoever asks: for callers that have already checked access (the watch page)."""
        return await repos_of(self.db).videos.find_by_id(video_id)

    async def get(self, video_id: int, viewer: Viewer) -> Video:
        video = await repos_of(reader(self.db, viewer)).videos.find_by_id(video_id)
        if video is None or not viewer.may_see(video):
            raise NotFound("video not found")
        return video

    def video_dict(self, video: Video, viewer: Viewer, base: str = "") -> dict[str, Any]:
        data = video.to_dict()
        data.pop("search_text", None)
        data.pop("actors_text", None)
        if not viewer.may_change(video):
            data.pop("original_filename", None)
            data.pop("source_sha256", None)  # would let anyone test whether a given file is on this site
        data["actors"] = video.actors or []
        data["watch_url"] = f"{base}/watch/{video.id}"
        data["thumbnail_url"] = None
        if video.status == "ready":
            data["thumbnail_url"] = f"{base}/hls/{video.id}/poster.jpg"
            if not video.is_public:  # only its owner or an admin gets here: sign the poster for them
                token, _ = self.playback.tokens.issue(video.id)
                data["thumbnail_url"] += f"?token={token}"
        return data

    # ---- changing ---------------------------------------------------------------------------------
    async def update(self, video_id: int, viewer: Viewer, data: dict[str, Any]) -> Video:
        video = await self.get(video_id, viewer)
        if not viewer.may_change(video):
            raise Forbidden("only the owner or an admin may change this video", code="not_owner")
        changes = clean_fields(data, partial=True)
        if not changes:
            raise ValidationError("nothing to change: give title, description, year, genre, actors or is_public",
                                  code="invalid_metadata")
        updated = await repos_of(self.db).videos.update(video_id, changes)
        if updated is None:
            raise NotFound("video not found")
        self.playback.invalidate(video_id)  # at once, not when the event is delivered: privacy changes
        self.events.publish("video.updated", video_id=video_id, fields=sorted(changes))
        return updated

    async def delete(self, video_id: int, viewer: Viewer) -> None:
        """Remove the video's stored files (HLS output, original, subtitles), then its rows."""
        video = await self.get(video_id, viewer)
        if not viewer.may_change(video):
            raise Forbidden("only the owner or an admin may delete this video", code="not_owner")
        files = await repos_of(self.db).video_files.find_by_video(video_id)
        providers = {f.storage_provider for f in files}
        missing = sorted(p for p in providers if p not in self.storages)
        if missing:
            raise Conflict(f"the video's files are on {', '.join(missing)}, which is not configured here",
                           code="storage_unavailable")
        # Stored files go first: if a delete fails, the rows remain and the request can be repeated.
        folders = {keys.video_folder(video_id)}
        for f in files:
            await self.storages[f.storage_provider].delete(f.file_path)
            if (original_folder := keys.original_folder_prefix(f.file_path)) is not None:
                folders.add(original_folder)
        for storage in {id(s): s for s in self.storages.values()}.values():
            for folder in sorted(folders):
                await storage.delete_prefix(folder)
        await repos_of(self.db).videos.delete(video_id)
        self.playback.invalidate(video_id)
        self.events.publish("video.deleted", video_id=video_id, title=video.title)
        log.info("video %d deleted with %d stored files", video_id, len(files))

    async def backfill_search(self) -> int:
        """Fill the search columns of rows written before migration 0007."""
        done = 0
        while batch := await repos_of(self.db).videos.missing_search_text():
            for video in batch:
                await repos_of(self.db).videos.set_search_text(video)
            done += len(batch)
        if done:
            log.info("indexed %d videos for catalog search", done)
        return done


def viewer_of(principal: Principal | None) -> Viewer:
    """A :class:`Viewer` from ``server.auth.principal()``'s result (None = anonymous)."""
    if principal is None:
        return ANONYMOUS
    return Viewer(user_id=principal.user.id, admin=principal.is_admin)
