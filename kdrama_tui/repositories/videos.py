"""VideoRepository: the design's finders by uploader and status, plus catalog search.

Search runs on ``search_text`` / ``actors_text`` (migration 0007): NFKC-normalised, case-folded copies of
the searchable fields that :meth:`VideoRepository.create` and :meth:`update` keep in step with the row,
so every writer (uploads, ingest, the catalog API) gets them without knowing they exist.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kdrama_tui.models import Video
from kdrama_tui.repositories.base import BaseRepository

SEARCH_FIELDS = ("title", "description", "actors")


def fold(text: str) -> str:
    """Text as search compares it: NFKC (composed Hangul, plain-width letters), case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def search_columns(title: str | None, description: str | None, actors: Iterable[str] | None) -> dict[str, str]:
    names = [fold(a) for a in (actors or []) if a]
    parts = [fold(title or ""), fold(description or ""), *names]
    return {"search_text": "\n".join(p for p in parts if p), "actors_text": "\n".join(names)}


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'`` with the user's own ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class VideoSearch:
    """Catalog filters. ``viewer_id``/``admin`` decide visibility: anonymous callers see public, ready
    videos; a signed-in user also sees their own; an admin sees everything."""

    q: str | None = None
    genre: str | None = None
    year: int | None = None
    actor: str | None = None
    status: str | None = None
    viewer_id: int | None = None
    admin: bool = False
    limit: int = 24
    offset: int = 0


class VideoRepository(BaseRepository[Video]):
    table = "videos"
    model = Video
    not_found_message = "video not found"

    async def create(self, data: Mapping[str, Any]) -> Video:
        data = dict(data)
        data.update(search_columns(data.get("title"), data.get("description"), data.get("actors")))
        return await super().create(data)

    async def update(self, id: int, data: Mapping[str, Any]) -> Video | None:
        data = dict(data)
        if not any(name in data for name in SEARCH_FIELDS):
            return await super().update(id, data)
        current = await self.find_by_id(id)
        if current is None:
            return None
        merged = {name: data.get(name, getattr(current, name)) for name in SEARCH_FIELDS}
        data.update(search_columns(merged["title"], merged["description"], merged["actors"]))
        return await super().update(id, data)

    async def find_by_uploader(self, user_id: int, *, limit: int | None = None, offset: int = 0) -> list[Video]:
        return await self.list({"uploader_user_id": user_id}, order_by="created_at DESC, id DESC",
                               limit=limit, offset=offset)

    async def find_by_status(self, status: str, *, limit: int | None = None, offset: int = 0) -> list[Video]:
        return await self.list({"status": status}, order_by="created_at DESC, id DESC",
                               limit=limit, offset=offset)

    async def search_missing(self) -> list[Video]:
        """Videos marked missing (their files were found gone; 0012), oldest first."""
        rows = await self.db.fetch_all("SELECT * FROM videos WHERE missing_reason IS NOT NULL ORDER BY id")
        return self._rows(rows)

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.db.fetch_all("SELECT status, COUNT(*) AS n FROM videos GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    # ---- catalog ----------------------------------------------------------------------------------
    @staticmethod
    def _search_where(search: VideoSearch) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if not search.admin:
            visible = "(status = 'ready' AND is_public = :public)"
            params["public"] = True
            if search.viewer_id is not None:
                # One expression rather than an OR of two indexed terms: both planners then scan newest-first
                # and stop at the page, instead of merging two index lookups and sorting (4x slower here).
                visible = (f"(CASE WHEN uploader_user_id = :viewer THEN 1 WHEN {visible} THEN 1 ELSE 0 END) = 1")
                params["viewer"] = search.viewer_id
            clauses.append(visible)
        if search.q:
            # Every word must appear somewhere (title, description or an actor), in any order.
            for i, word in enumerate(fold(search.q).split()[:8]):
                clauses.append(f"search_text LIKE :q{i} ESCAPE '\\'")
                params[f"q{i}"] = like_pattern(word)
        if search.actor:
            clauses.append("actors_text LIKE :actor ESCAPE '\\'")
            params["actor"] = like_pattern(fold(search.actor).strip())
        if search.genre:
            clauses.append("lower(genre) = lower(:genre)")
            params["genre"] = search.genre.strip()
        if search.year is not None:
            clauses.append("year = :year")
            params["year"] = search.year
        if search.status == "missing":  # a failed video whose files were found gone (0012)
            clauses.append("missing_reason IS NOT NULL")
        elif search.status:
            clauses.append("status = :status")
            params["status"] = search.status
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    async def search(self, search: VideoSearch) -> tuple[list[Video], int]:
        """One page of matching videos, newest first, and the number of matches."""
        where, params = self._search_where(search)
        total = int(await self.db.fetch_value(f"SELECT COUNT(*) AS n FROM videos{where}", params))
        if total == 0 or search.offset >= total:
            return [], total
        rows = await self.db.fetch_all(
            f"SELECT * FROM videos{where} ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset",
            {**params, "limit": int(search.limit), "offset": int(search.offset)})
        return self._rows(rows), total

    async def facets(self, search: VideoSearch) -> tuple[list[str], list[int]]:
        """Genres and years among the videos ``search``'s viewer may see (the catalog's filter menus)."""
        where, params = self._search_where(VideoSearch(viewer_id=search.viewer_id, admin=search.admin))
        extra = " AND " if where else " WHERE "
        genres = await self.db.fetch_all(
            f"SELECT DISTINCT genre FROM videos{where}{extra}genre IS NOT NULL ORDER BY genre", params)
        years = await self.db.fetch_all(
            f"SELECT DISTINCT year FROM videos{where}{extra}year IS NOT NULL ORDER BY year DESC", params)
        return [r["genre"] for r in genres], [int(r["year"]) for r in years]

    async def missing_search_text(self, limit: int = 500) -> list[Video]:
        return self._rows(await self.db.fetch_all(
            "SELECT * FROM videos WHERE search_text IS NULL ORDER BY id LIMIT :limit", {"limit": limit}))

    async def set_search_text(self, video: Video) -> None:
        await self.db.execute(
            "UPDATE videos SET search_text = :search_text, actors_text = :actors_text WHERE id = :id",
            {**search_columns(video.title, video.description, video.actors), "id": video.id})
