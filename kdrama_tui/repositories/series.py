"""Series, their episodes (videos with a series_id), episode segments and the unmatched-ingest list.

The folded search columns (``title_key``, ``search_keys``, ``genre_keys``) are computed by the series
service (romanization is domain knowledge) and stored here as given. Visibility is the catalog's rule:
anonymous callers see public, ready episodes; a signed-in user also their own; an admin everything. A
series is listed to a viewer only when at least one of its episodes is visible to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kdrama_tui.models import EpisodeSegment, Series, UnmatchedVideo, Video
from kdrama_tui.repositories.base import BaseRepository
from kdrama_tui.repositories.videos import like_pattern


@dataclass(frozen=True)
class Visibility:
    viewer_id: int | None = None
    admin: bool = False

    def clause(self, alias: str, params: dict[str, Any], *, per_series: bool = False) -> str:
        """SQL true for the rows of ``videos AS alias`` this viewer may see ("1 = 1" for an admin).

        ``per_series``: the rows are already narrowed to one series; ``status || ''`` keeps the planner on
        the series index instead of the listing index (which would read every visible video of the library).
        """
        if self.admin:
            return "1 = 1"
        params["vis_public"] = True
        status = f"{alias}.status || ''" if per_series else f"{alias}.status"
        visible = f"({status} = 'ready' AND {alias}.is_public = :vis_public)"
        if self.viewer_id is None:
            return visible
        params["vis_viewer"] = self.viewer_id
        return f"({alias}.uploader_user_id = :vis_viewer OR {visible})"

    def allows(self, row: Mapping[str, Any]) -> bool:
        """The same rule as :meth:`clause` for a fetched row (status, is_public, uploader_user_id)."""
        return self.admin or (row["status"] == "ready" and bool(row["is_public"])) or \
            (self.viewer_id is not None and row["uploader_user_id"] == self.viewer_id)


@dataclass(frozen=True)
class SeriesSearch:
    key: str | None = None  # a folded search key (see services/series/search_keys.py)
    genre_key: str | None = None
    year: int | None = None
    status: str | None = None
    visibility: Visibility = Visibility()
    limit: int = 24
    offset: int = 0


@dataclass(frozen=True)
class EpisodeStats:
    episode_count: int
    seasons: list[int]
    cover_id: int | None = None  # the episode whose image stands for the series


@dataclass(frozen=True)
class CatalogEntry:
    kind: str  # "series" or "video"
    id: int


class SeriesRepository(BaseRepository[Series]):
    table = "series"
    model = Series
    not_found_message = "series not found"

    async def find_by_key(self, key: str) -> list[Series]:
        """Series whose title key, or any one of whose search keys, is exactly ``key``."""
        rows = await self.db.fetch_all(
            "SELECT * FROM series WHERE title_key = :key OR ('\n' || search_keys || '\n') LIKE :line ESCAPE '\\' "
            "ORDER BY id", {"key": key, "line": like_pattern(f"\n{key}\n")})
        return self._rows(rows)

    def _search_where(self, search: SeriesSearch, params: dict[str, Any]) -> str:
        clauses = []
        if not search.visibility.admin:
            # One series' episode range per series (idx_videos_episode), see Visibility.clause.
            clauses.append("EXISTS (SELECT 1 FROM videos v WHERE v.series_id = s.id AND "
                           f"{search.visibility.clause('v', params, per_series=True)})")
        if search.key:
            clauses.append("s.search_keys LIKE :key ESCAPE '\\'")
            params["key"] = like_pattern(search.key)
        if search.genre_key:
            clauses.append("s.genre_keys LIKE :genre ESCAPE '\\'")
            params["genre"] = like_pattern(f"|{search.genre_key}|")
        if search.year is not None:
            clauses.append("s.year = :year")
            params["year"] = search.year
        if search.status:
            clauses.append("s.status = :status")
            params["status"] = search.status
        return (" WHERE " + " AND ".join(clauses)) if clauses else ""

    async def search(self, search: SeriesSearch) -> tuple[list[Series], int]:
        """One page of matching series in title order, and the number of matches."""
        params: dict[str, Any] = {}
        where = self._search_where(search, params)
        total = int(await self.db.fetch_value(f"SELECT COUNT(*) AS n FROM series s{where}", params))
        if total == 0 or search.offset >= total:
            return [], total
        rows = await self.db.fetch_all(
            f"SELECT s.* FROM series s{where} ORDER BY s.sort_title, s.id LIMIT :limit OFFSET :offset",
            {**params, "limit": int(search.limit), "offset": int(search.offset)})
        return self._rows(rows), total

    async def episode_stats(self, series_ids: Sequence[int], visibility: Visibility) -> dict[int, EpisodeStats]:
        """Each series' visible episode count, season numbers and cover (its first ready episode the viewer
        may see, specials last). One index range per series (idx_videos_episode), with the visibility rule
        applied here: filtering by status in SQL lets SQLite pick the listing index and read every visible
        video of the library instead (~70 ms over 16,000 episodes)."""
        if not series_ids:
            return {}
        params: dict[str, Any] = {f"s{i}": sid for i, sid in enumerate(series_ids)}
        names = ", ".join(f":s{i}" for i in range(len(series_ids)))
        rows = await self.db.fetch_all(
            "SELECT series_id, season_number, episode_number, id, status, is_public, uploader_user_id "
            f"FROM videos WHERE series_id IN ({names}) ORDER BY series_id, season_number, episode_number", params)
        counts: dict[int, int] = {}
        seasons: dict[int, list[int]] = {}
        covers: dict[int, tuple[bool, int, int, int]] = {}
        for r in rows:
            if not visibility.allows(r):
                continue
            sid, season = int(r["series_id"]), int(r["season_number"])
            counts[sid] = counts.get(sid, 0) + 1
            if season not in seasons.setdefault(sid, []):
                seasons[sid].append(season)
            rank = (season == 0, season, int(r["episode_number"] or 0), int(r["id"]))
            if r["status"] == "ready" and (sid not in covers or rank < covers[sid]):
                covers[sid] = rank
        return {sid: EpisodeStats(counts.get(sid, 0), seasons.get(sid, []),
                                  covers[sid][3] if sid in covers else None) for sid in series_ids}

    async def episodes(self, series_id: int, visibility: Visibility, season: int | None = None) -> list[Video]:
        """The series' episodes the viewer may see, in (season, episode) order."""
        params: dict[str, Any] = {"sid": series_id}
        extra = ""
        if season is not None:
            extra = " AND v.season_number = :season"
            params["season"] = season
        rows = await self.db.fetch_all(
            f"SELECT v.* FROM videos v WHERE v.series_id = :sid{extra} AND "
            f"{visibility.clause('v', params, per_series=True)} "
            "ORDER BY v.season_number, v.episode_number, v.id", params)
        return [Video.from_row(r) for r in rows]

    async def subtitle_languages(self, video_ids: Sequence[int]) -> dict[int, list[str]]:
        """The subtitle track languages of each video (its transcoded WebVTT tracks), sorted."""
        if not video_ids:
            return {}
        params: dict[str, Any] = {f"v{i}": vid for i, vid in enumerate(video_ids)}
        names = ", ".join(f":v{i}" for i in range(len(video_ids)))
        rows = await self.db.fetch_all(
            f"SELECT DISTINCT video_id, language FROM video_files WHERE video_id IN ({names}) "
            "AND file_type = 'subtitle' AND language IS NOT NULL ORDER BY video_id, language", params)
        found: dict[int, list[str]] = {}
        for r in rows:
            found.setdefault(int(r["video_id"]), []).append(r["language"])
        return found

    async def catalog_page(self, *, visibility: Visibility, key: str | None, video_words: Sequence[str],
                           genre: str | None, year: int | None, limit: int,
                           offset: int) -> tuple[list[CatalogEntry], int]:
        """The catalog with each series as one entry (placed by its newest visible episode) among the lone
        videos, newest first. ``key`` matches series names; ``video_words`` lone videos' search text."""
        params: dict[str, Any] = {}
        lone = [f"{visibility.clause('v', params)}", "v.series_id IS NULL"]
        grouped = [f"{visibility.clause('v', params)}", "v.series_id IS NOT NULL"]
        for i, word in enumerate(video_words):
            lone.append(f"v.search_text LIKE :w{i} ESCAPE '\\'")
            params[f"w{i}"] = like_pattern(word)
        if key:
            grouped.append("s.search_keys LIKE :key ESCAPE '\\'")
            params["key"] = like_pattern(key)
        if genre:
            lone.append("lower(v.genre) = lower(:genre)")
            grouped.append("s.genre_keys LIKE :genre_key ESCAPE '\\'")
            params["genre"] = genre
            params["genre_key"] = like_pattern(f"|{genre.casefold()}|")
        if year is not None:
            lone.append("v.year = :year")
            grouped.append("s.year = :year")
            params["year"] = year
        union = (f"SELECT 'video' AS kind, v.id AS id, v.created_at AS at FROM videos v WHERE {' AND '.join(lone)} "
                 "UNION ALL "
                 "SELECT 'series' AS kind, s.id AS id, MAX(v.created_at) AS at FROM videos v "
                 f"JOIN series s ON s.id = v.series_id WHERE {' AND '.join(grouped)} GROUP BY s.id")
        total = int(await self.db.fetch_value(f"SELECT COUNT(*) AS n FROM ({union}) c", params))
        if total == 0 or offset >= total:
            return [], total
        rows = await self.db.fetch_all(
            f"SELECT kind, id FROM ({union}) c ORDER BY at DESC, kind, id DESC LIMIT :limit OFFSET :offset",
            {**params, "limit": int(limit), "offset": int(offset)})
        return [CatalogEntry(r["kind"], int(r["id"])) for r in rows], total


class EpisodeSegmentRepository(BaseRepository[EpisodeSegment]):
    table = "episode_segments"
    model = EpisodeSegment
    not_found_message = "segment not found"

    async def for_videos(self, video_ids: Sequence[int]) -> dict[int, list[EpisodeSegment]]:
        if not video_ids:
            return {}
        params: dict[str, Any] = {f"v{i}": vid for i, vid in enumerate(video_ids)}
        names = ", ".join(f":v{i}" for i in range(len(video_ids)))
        rows = await self.db.fetch_all(
            f"SELECT * FROM episode_segments WHERE video_id IN ({names}) ORDER BY video_id, start_seconds", params)
        found: dict[int, list[EpisodeSegment]] = {}
        for segment in self._rows(rows):
            found.setdefault(segment.video_id, []).append(segment)
        return found

    async def replace(self, video_id: int, segments: Sequence[Mapping[str, Any]]) -> list[EpisodeSegment]:
        """Make ``segments`` (type, start_seconds, end_seconds) the video's whole set; run in a transaction."""
        await self.db.execute("DELETE FROM episode_segments WHERE video_id = :v", {"v": video_id})
        return [await self.create({**s, "video_id": video_id}) for s in segments]


class UnmatchedVideoRepository(BaseRepository[UnmatchedVideo]):
    table = "unmatched_videos"
    model = UnmatchedVideo
    not_found_message = "unmatched entry not found"

    async def record(self, data: Mapping[str, Any]) -> UnmatchedVideo:
        await self.db.execute("DELETE FROM unmatched_videos WHERE video_id = :v", {"v": data["video_id"]})
        return await self.create(data)

    async def resolve(self, video_id: int) -> bool:
        return await self.db.execute("DELETE FROM unmatched_videos WHERE video_id = :v", {"v": video_id}) > 0

    async def page(self, *, limit: int, offset: int) -> tuple[list[tuple[UnmatchedVideo, Video]], int]:
        """Entries whose video is still a lone video, oldest first, with the video."""
        where = " FROM unmatched_videos u JOIN videos v ON v.id = u.video_id WHERE v.series_id IS NULL"
        total = int(await self.db.fetch_value(f"SELECT COUNT(*) AS n{where}", {}))
        rows = await self.db.fetch_all(
            f"SELECT u.id AS u_id, u.created_at AS u_created_at, u.reason, u.source_name, u.show_title, u.season, "
            f"u.episode, v.*{where} ORDER BY u.id LIMIT :limit OFFSET :offset", {"limit": limit, "offset": offset})
        out = []
        for r in rows:
            entry = UnmatchedVideo.from_row({"id": r["u_id"], "video_id": r["id"], "reason": r["reason"],
                                             "source_name": r["source_name"], "show_title": r["show_title"],
                                             "season": r["season"], "episode": r["episode"],
                                             "created_at": r["u_created_at"]})
            out.append((entry, Video.from_row(r)))
        return out, total
