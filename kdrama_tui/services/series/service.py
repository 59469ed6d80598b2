"""Series: listing and search, a series with its seasons and episodes, admin edits, episode placement,
segments, numbering help (next free, missing) and the unmatched-ingest list.

Visibility follows the catalog: anonymous viewers see public, ready episodes; signed-in users also their
own; admins everything. A series none of whose episodes a viewer may see is a 404 to them. Callers check
admin rights (the routes); this service trusts them.
"""

from __future__ import annotations

import logging
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.errors import NotFound, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import EpisodeSegment, Series, Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.series import SeriesSearch, Visibility
from kdrama_tui.repositories.videos import fold
from kdrama_tui.services.catalog.service import CatalogService, Viewer, reader
from kdrama_tui.services.series import episodes as ops
from kdrama_tui.services.series.fields import (
    EPISODE_FIELDS,
    SERIES_FIELDS,
    STATUSES,
    clean_episode,
    clean_segments,
    clean_series,
    integer,
)
from kdrama_tui.services.series.search_keys import search_key

log = logging.getLogger(__name__)

MAX_PER_PAGE = 100


def visibility(viewer: Viewer) -> Visibility:
    return Visibility(viewer_id=viewer.user_id, admin=viewer.admin)


def segment_dict(segment: EpisodeSegment) -> dict[str, Any]:
    return {"type": segment.type, "start": segment.start_seconds, "end": segment.end_seconds}


class SeriesService:
    def __init__(self, db: Database, catalog: CatalogService, events: EventBus) -> None:
        self.db = db
        self.catalog = catalog
        self.events = events

    # ---- reading ----------------------------------------------------------------------------------
    def _thumbnail(self, video: Video, base: str) -> str | None:
        return self.catalog.video_dict(video, Viewer(admin=True), base)["thumbnail_url"]

    async def _summaries(self, found: list[Series], viewer: Viewer, base: str) -> list[dict[str, Any]]:
        reads = reader(self.db, viewer)
        vis = visibility(viewer)
        stats = await repos_of(reads).series.episode_stats([s.id for s in found], vis)
        cover_ids = [st.cover_id for st in stats.values() if st.cover_id is not None]
        covers = {v.id: v for v in await repos_of(reads).videos.list({"id": cover_ids})} if cover_ids else {}
        return [self.summary(s, stats[s.id].episode_count, stats[s.id].seasons,
                             covers.get(stats[s.id].cover_id or 0), base) for s in found]

    def summary(self, series: Series, episode_count: int, seasons: list[int], cover: Video | None,
                base: str) -> dict[str, Any]:
        return {"id": series.id, "title": series.title, "native_title": series.native_title,
                "alt_titles": series.alt_titles, "year": series.year, "genres": series.genres,
                "poster_url": series.poster or (self._thumbnail(cover, base) if cover else None),
                "status": series.status, "network": series.network, "episode_count": episode_count,
                "seasons": seasons}

    async def search(self, viewer: Viewer, *, q: str | None = None, genre: str | None = None,
                     year: int | None = None, status: str | None = None, limit: int = 24, offset: int = 0,
                     base: str = "") -> dict[str, Any]:
        reads = reader(self.db, viewer)
        if status is not None and status not in STATUSES:
            raise ValidationError("status must be airing or completed", code="invalid_parameter",
                                  details={"field": "status"})
        if not 1 <= limit <= MAX_PER_PAGE or offset < 0:
            raise ValidationError(f"limit must be 1-{MAX_PER_PAGE} and offset at least 0",
                                  code="invalid_parameter", details={"field": "limit"})
        if q is not None and len(q) > 200:
            raise ValidationError("q must be at most 200 characters", code="invalid_parameter",
                                  details={"field": "q"})
        search = SeriesSearch(key=search_key(q or "") or None,
                              genre_key=(genre or "").strip().casefold() or None, year=year, status=status,
                              visibility=visibility(viewer), limit=limit, offset=offset)
        found, total = await repos_of(reads).series.search(search)
        return {"items": await self._summaries(found, viewer, base), "total": total, "limit": limit,
                "offset": offset}

    async def get(self, series_id: int) -> Series:
        return await repos_of(self.db).series.get(series_id)

    async def detail(self, series_id: int, viewer: Viewer, base: str = "") -> dict[str, Any]:
        reads = reader(self.db, viewer)
        series = await repos_of(reads).series.find_by_id(series_id)
        videos = [] if series is None else await repos_of(reads).series.episodes(series_id, visibility(viewer))
        if series is None or (not videos and not viewer.admin):
            raise NotFound("series not found")
        ids = [v.id for v in videos]
        languages = await repos_of(reads).series.subtitle_languages(ids)
        segments = await repos_of(reads).segments.for_videos(ids)
        seasons: dict[int, list[dict[str, Any]]] = {}
        for video in videos:
            shown = self.catalog.video_dict(video, viewer, base)
            seasons.setdefault(video.season_number or 0, []).append({
                "video_id": video.id, "season": video.season_number, "episode": video.episode_number,
                "episode_end": video.episode_number_end, "title": video.title,
                "episode_title": video.episode_title,
                "air_date": video.air_date.isoformat() if video.air_date else None,
                "duration_seconds": video.duration_seconds, "thumbnail_url": shown["thumbnail_url"],
                "subtitle_languages": languages.get(video.id, []), "status": video.status,
                "watch_url": f"{base}/watch/{video.id}",
                "segments": [segment_dict(s) for s in segments.get(video.id, [])]})
        cover = next((v for v in videos if v.status == "ready"), None)
        return {**self.summary(series, len(videos), sorted(seasons), cover, base),
                "synopsis": series.synopsis,
                "seasons": [{"number": n, "episodes": seasons[n]} for n in sorted(seasons)]}

    async def catalog_page(self, viewer: Viewer, *, q: str | None = None, genre: str | None = None,
                           year: int | None = None, page: int = 1, per_page: int = 24,
                           base: str = "") -> dict[str, Any]:
        """The catalog with series grouped: items are ``{"kind": "series", ...summary}`` or
        ``{"kind": "video", ...video}``, newest first (a series by its newest episode)."""
        reads = reader(self.db, viewer)
        if q is not None and len(q) > 200:
            raise ValidationError("q must be at most 200 characters", code="invalid_parameter")
        words = fold(q or "").split()[:8]
        entries, total = await repos_of(reads).series.catalog_page(
            visibility=visibility(viewer), key=search_key(q or "") or None, video_words=words,
            genre=(genre or "").strip() or None, year=year, limit=per_page, offset=(page - 1) * per_page)
        series_ids = [e.id for e in entries if e.kind == "series"]
        series = {s.id: s for s in await repos_of(reads).series.list({"id": series_ids})} if series_ids else {}
        summaries = {d["id"]: d for d in await self._summaries(list(series.values()), viewer, base)}
        video_ids = [e.id for e in entries if e.kind == "video"]
        videos = {v.id: v for v in await repos_of(reads).videos.list({"id": video_ids})} if video_ids else {}
        items = []
        for entry in entries:
            if entry.kind == "series" and entry.id in summaries:
                items.append({"kind": "series", **summaries[entry.id]})
            elif entry.kind == "video" and entry.id in videos:
                items.append({"kind": "video", **self.catalog.video_dict(videos[entry.id], viewer, base)})
        return {"items": items, "total": total, "page": page, "per_page": per_page}

    # ---- series -----------------------------------------------------------------------------------
    async def create(self, data: dict[str, Any]) -> Series:
        series = await ops.create_series(self.db, clean_series(data, partial=False))
        self.events.publish("series.created", series_id=series.id, title=series.title)
        return series

    async def update(self, series_id: int, data: dict[str, Any]) -> Series:
        changes = clean_series(data, partial=True)
        if not changes:
            raise ValidationError(f"nothing to change: give {', '.join(SERIES_FIELDS)}", code="invalid_series")
        updated = await ops.update_series(self.db, await self.get(series_id), changes)
        self.events.publish("series.updated", series_id=series_id, fields=sorted(changes))
        return updated

    async def delete(self, series_id: int) -> None:
        """Delete the series; its episodes stay in the library as lone videos."""
        series = await self.get(series_id)
        async with self.db.transaction() as tx:
            for video in await repos_of(tx).series.episodes(series_id, ops.EVERYTHING):
                await ops.detach(tx, video.id)
            await repos_of(tx).series.delete(series_id)
        self.events.publish("series.deleted", series_id=series_id, title=series.title)

    def series_dict(self, series: Series) -> dict[str, Any]:
        data = series.to_dict()
        for hidden in ("search_keys", "genre_keys", "title_key", "sort_title"):
            data.pop(hidden, None)
        return data

    # ---- episodes ---------------------------------------------------------------------------------
    async def attach(self, series_id: int, data: dict[str, Any]) -> Video:
        video_id = integer(data.get("video_id"), "video_id", 1, 2**62, "invalid_episode")
        columns = clean_episode(data, partial=False)
        async with self.db.transaction() as tx:
            series = await repos_of(tx).series.get(series_id)
            video = await ops.attach(tx, series, video_id, columns)
        self.catalog.playback.invalidate(video_id)
        self.events.publish("series.episode_attached", series_id=series_id, video_id=video_id,
                            season=video.season_number, episode=video.episode_number)
        return video

    async def detach(self, series_id: int, video_id: int) -> None:
        video = await repos_of(self.db).videos.find_by_id(video_id)
        if video is None or video.series_id != series_id:
            raise NotFound("that video is not an episode of this series")
        await ops.detach(self.db, video_id)
        self.events.publish("series.episode_detached", series_id=series_id, video_id=video_id)

    async def renumber(self, series_id: int, data: dict[str, Any]) -> list[Video]:
        """Renumber episodes at once (swaps allowed): ``{"episodes": [{video_id, season, episode,
        episode_end?}]}``, or ``{"season": n, "order": [video ids]}`` for 1, 2, 3... in that order."""
        if isinstance(data.get("order"), list):
            season = integer(data.get("season", 1), "season", 0, 999, "invalid_episode")
            moves = [{"video_id": v, "season": season, "episode": i} for i, v in enumerate(data["order"], 1)]
        elif isinstance(data.get("episodes"), list):
            moves = data["episodes"]
        else:
            raise ValidationError("give episodes: [{video_id, season, episode}] or season and order: [video ids]",
                                  code="invalid_episode", details={"field": "episodes"})
        planned: list[tuple[int, dict[str, Any]]] = []
        for move in moves:
            if not isinstance(move, dict):
                raise ValidationError("each episode must be an object", code="invalid_episode")
            vid = integer(move.get("video_id"), "video_id", 1, 2**62, "invalid_episode")
            planned.append((vid, clean_episode({k: v for k, v in move.items() if k in EPISODE_FIELDS},
                                               partial=False)))
        if len({vid for vid, _ in planned}) != len(planned):
            raise ValidationError("a video appears twice", code="invalid_episode", details={"field": "video_id"})
        async with self.db.transaction() as tx:
            series = await repos_of(tx).series.get(series_id)
            for vid, _ in planned:
                video = await repos_of(tx).videos.find_by_id(vid)
                if video is None or video.series_id != series_id:
                    raise NotFound(f"video {vid} is not an episode of this series", details={"video_id": vid})
                await repos_of(tx).videos.update(vid, {"episode_number": None, "episode_number_end": None})
            done = [await ops.attach(tx, series, vid, columns) for vid, columns in planned]
        self.events.publish("series.renumbered", series_id=series_id, videos=[v.id for v in done])
        return done

    async def set_episode(self, video_id: int, data: dict[str, Any]) -> Video:
        """The videos API's episode fields: ``series_id`` (null detaches) with season/episode, or only
        changes to the numbers, title or air date of an episode."""
        video = await repos_of(self.db).videos.get(video_id)
        if "series_id" in data and data["series_id"] in (None, ""):
            return await ops.detach(self.db, video_id) or video
        series_id = video.series_id
        if "series_id" in data:
            series_id = integer(data["series_id"], "series_id", 1, 2**62, "invalid_episode")
        if series_id is None:
            raise ValidationError("series_id is required to make this video an episode", code="invalid_episode",
                                  details={"field": "series_id"})
        current = {"season": video.season_number, "episode": video.episode_number,
                   "episode_end": video.episode_number_end, "episode_title": video.episode_title,
                   "air_date": video.air_date}
        if video.series_id != series_id:
            current = {"season": 1, "episode": None}
        renamed = {"season_number": "season", "episode_number": "episode", "episode_number_end": "episode_end"}
        given = {renamed.get(k, k): v for k, v in data.items() if renamed.get(k, k) in EPISODE_FIELDS}
        columns = clean_episode({**current, **given}, partial=False)
        async with self.db.transaction() as tx:
            series = await repos_of(tx).series.get(series_id)
            updated = await ops.attach(tx, series, video_id, columns)
        self.catalog.playback.invalidate(video_id)
        return updated

    async def segments(self, video_id: int) -> list[dict[str, Any]]:
        found = await repos_of(self.db).segments.for_videos([video_id])
        return [segment_dict(s) for s in found.get(video_id, [])]

    async def set_segments(self, video_id: int, data: Any) -> list[dict[str, Any]]:
        rows = clean_segments(data.get("segments") if isinstance(data, dict) else data)
        await repos_of(self.db).videos.get(video_id)
        async with self.db.transaction() as tx:
            saved = await repos_of(tx).segments.replace(video_id, rows)
        return [segment_dict(s) for s in saved]

    async def set_season_segments(self, series_id: int, season: int, data: Any) -> dict[str, Any]:
        """The same segments for every episode of a season (an intro that never changes)."""
        rows = clean_segments(data.get("segments") if isinstance(data, dict) else data)
        await self.get(series_id)
        async with self.db.transaction() as tx:
            videos = await repos_of(tx).series.episodes(series_id, ops.EVERYTHING, season=season)
            if not videos:
                raise NotFound(f"season {season} has no episodes")
            for video in videos:
                await repos_of(tx).segments.replace(video.id, rows)
        return {"season": season, "video_ids": [v.id for v in videos], "segments": [
            {"type": r["type"], "start": r["start_seconds"], "end": r["end_seconds"]} for r in rows]}

    async def numbering(self, series_id: int, season: int) -> dict[str, Any]:
        """The next free episode number of a season and the numbers missing below its highest one."""
        await self.get(series_id)
        covered: set[int] = set()
        for video in await repos_of(self.db).series.episodes(series_id, ops.EVERYTHING, season=season):
            start = video.episode_number or 0
            covered.update(range(start, (video.episode_number_end or start) + 1))
        highest = max(covered, default=0)
        return {"season": season, "next_free": highest + 1,
                "missing": [n for n in range(1, highest) if n not in covered]}

    async def unmatched(self, *, limit: int = 50, offset: int = 0, base: str = "") -> dict[str, Any]:
        entries, total = await repos_of(self.db).unmatched.page(limit=limit, offset=offset)
        admin = Viewer(admin=True)
        return {"items": [{"video": self.catalog.video_dict(video, admin, base), "reason": entry.reason,
                           "source_name": entry.source_name, "show_title": entry.show_title,
                           "season": entry.season, "episode": entry.episode,
                           "recorded_at": entry.created_at.isoformat() if entry.created_at else None}
                          for entry, video in entries], "total": total, "limit": limit, "offset": offset}

    async def video_extra(self, video: Video) -> dict[str, Any]:
        """What the videos API adds to a video: its segments (the episode columns are on the row)."""
        return {"segments": await self.segments(video.id)}

