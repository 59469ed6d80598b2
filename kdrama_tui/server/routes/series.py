"""Series API: list and search series, a series with its seasons and episodes; admin edits, episode
placement, renumbering, segments and the unmatched-ingest list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kdrama_tui.server.auth import principal, require_admin
from kdrama_tui.server.http import public_base
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json
from kdrama_tui.services.catalog.service import Viewer, viewer_of

_ADMIN = {"tags": ["series"], "security": [{"bearer": []}, {"apiKey": []}]}
_ADMIN_VIEW = Viewer(admin=True)


def _query(*params: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
            for name, kind, text in params]


def _body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_NAMES = {"type": "array", "items": _TEXT}
_SERIES_FIELDS = {"title": _TEXT, "native_title": _TEXT, "alt_titles": _NAMES, "year": _INT, "genres": _NAMES,
                  "synopsis": _TEXT, "poster": {"type": "string", "description": "http(s) URL or a path on this site"},
                  "network": _TEXT, "status": {"type": "string", "enum": ["airing", "completed"]}}
_EPISODE_FIELDS = {"video_id": _INT, "season": {"type": "integer", "description": "0 = specials; default 1"},
                   "episode": _INT, "episode_end": {"type": "integer", "description": "two episodes in one file"},
                   "episode_title": _TEXT, "air_date": {"type": "string", "format": "date"}}
_SEGMENTS = {"segments": {"type": "array", "items": {"type": "object", "required": ["type", "start", "end"],
             "properties": {"type": {"type": "string", "enum": ["intro", "recap", "outro", "preview"]},
                            "start": {"type": "number"}, "end": {"type": "number"}}}}}


@describe(tags=["series"], parameters=_query(
    ("q", "string", "any name: title, Hangul, alternative, romanized (spaces, hyphens, case ignored) or the "
                    "initial consonants (ㄷㄲㅂ)"),
    ("genre", "string", "one of the series' genres (case-insensitive)"), ("year", "integer", "first aired"),
    ("status", "string", "airing or completed"), ("limit", "integer", "1-100, default 24"),
    ("offset", "integer", "series to skip, default 0")))
async def list_series(request: web.Request) -> web.Response:
    """Search series.

    Returns {"items": [{id, title, native_title, alt_titles, year, genres, poster_url, status, network,
    episode_count, seasons}], "total", "limit", "offset"} in title order. A series is listed when the caller
    may see one of its episodes (anonymous: public and ready).
    """
    svc = services(request)
    query = request.query
    year = query.get("year")
    result = await svc.series.search(
        viewer_of(await principal(request)), q=query.get("q"), genre=query.get("genre"),
        status=query.get("status") or None, year=int_param(year, "year", 0, 1800, 2200) if year else None,
        limit=int_param(query.get("limit"), "limit", 24, 1, 100),
        offset=int_param(query.get("offset"), "offset", 0, 0, 10_000_000), base=public_base(request))
    return web.json_response(result)


@describe(tags=["series"])
async def get_series(request: web.Request) -> web.Response:
    """A series with its seasons and episodes in order.

    Each episode: video_id, season, episode, episode_end, title, episode_title, air_date, duration_seconds,
    thumbnail_url, subtitle_languages, status, watch_url, segments [{type, start, end}]. Viewers get the
    episodes they may see; a series with none of those is a 404.
    """
    svc = services(request)
    data = await svc.series.detail(path_id(request), viewer_of(await principal(request)), public_base(request))
    return web.json_response(data)


@describe(**_ADMIN, **_body(_SERIES_FIELDS, ["title"]))
async def create_series(request: web.Request) -> web.Response:
    """Create a series (admin); answers the series as GET /api/series/{id} shows it to an admin."""
    await require_admin(request)
    svc = services(request)
    series = await svc.series.create(await read_json(request))
    return web.json_response(await svc.series.detail(series.id, _ADMIN_VIEW, public_base(request)), status=201)


@describe(**_ADMIN, **_body(_SERIES_FIELDS))
async def patch_series(request: web.Request) -> web.Response:
    """Change a series' fields (admin)."""
    await require_admin(request)
    svc = services(request)
    series = await svc.series.update(path_id(request), await read_json(request))
    return web.json_response(await svc.series.detail(series.id, _ADMIN_VIEW, public_base(request)))


@describe(**_ADMIN)
async def delete_series(request: web.Request) -> web.Response:
    """Delete a series (admin); its episodes stay in the library as lone videos."""
    await require_admin(request)
    await services(request).series.delete(path_id(request))
    return web.Response(status=204)


async def _video(request: web.Request, video_id: int) -> dict[str, Any]:
    svc = services(request)
    video = await svc.catalog.get(video_id, _ADMIN_VIEW)
    return {**svc.catalog.video_dict(video, _ADMIN_VIEW, public_base(request)), **await svc.series.video_extra(video)}


@describe(**_ADMIN, **_body(_EPISODE_FIELDS, ["video_id", "episode"]))
async def attach_episode(request: web.Request) -> web.Response:
    """Make a video an episode of the series (admin); 409 episode_taken when another video holds the number."""
    await require_admin(request)
    video = await services(request).series.attach(path_id(request), await read_json(request))
    return web.json_response(await _video(request, video.id), status=201)


@describe(**_ADMIN)
async def detach_episode(request: web.Request) -> web.Response:
    """Take a video out of the series (admin); it stays in the library as a lone video."""
    await require_admin(request)
    await services(request).series.detach(path_id(request), path_id(request, "video_id"))
    return web.Response(status=204)


@describe(**_ADMIN, **_body({
    "episodes": {"type": "array", "items": {"type": "object", "properties": _EPISODE_FIELDS}},
    "season": _INT, "order": {"type": "array", "items": _INT, "description": "video ids: numbered 1, 2, 3..."}}))
async def renumber(request: web.Request) -> web.Response:
    """Renumber episodes in one step (admin): {"episodes": [{video_id, season, episode}]} or
    {"season": n, "order": [video ids]}; all or nothing, swaps allowed."""
    await require_admin(request)
    svc = services(request)
    videos = await svc.series.renumber(path_id(request), await read_json(request))
    return web.json_response({"items": [await _video(request, v.id) for v in videos]})


@describe(**_ADMIN)
async def season_numbering(request: web.Request) -> web.Response:
    """The next free episode number of a season and the numbers missing below its highest (admin)."""
    await require_admin(request)
    return web.json_response(await services(request).series.numbering(path_id(request), path_id(request, "n")))


@describe(**_ADMIN, **_body(_SEGMENTS, ["segments"]))
async def put_video_segments(request: web.Request) -> web.Response:
    """Set a video's intro/recap/outro/preview segments (admin); replaces the whole set."""
    await require_admin(request)
    segments = await services(request).series.set_segments(path_id(request), await read_json(request))
    return web.json_response({"segments": segments})


@describe(**_ADMIN, **_body(_SEGMENTS, ["segments"]))
async def put_season_segments(request: web.Request) -> web.Response:
    """Set the same segments on every episode of a season (admin)."""
    await require_admin(request)
    result = await services(request).series.set_season_segments(
        path_id(request), path_id(request, "n"), await read_json(request))
    return web.json_response(result)


@describe(**_ADMIN, parameters=_query(("limit", "integer", "1-200, default 50"), ("offset", "integer", "skip")))
async def list_unmatched(request: web.Request) -> web.Response:
    """Imported files that could not be placed in a series (admin): {"items": [{video, reason, source_name,
    show_title, season, episode, recorded_at}], "total", "limit", "offset"}, oldest first."""
    await require_admin(request)
    result = await services(request).series.unmatched(
        limit=int_param(request.query.get("limit"), "limit", 50, 1, 200),
        offset=int_param(request.query.get("offset"), "offset", 0, 0, 10_000_000), base=public_base(request))
    return web.json_response(result)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/series", list_series)
    app.router.add_post("/api/series", create_series)
    app.router.add_get("/api/series/{id}", get_series)
    app.router.add_patch("/api/series/{id}", patch_series)
    app.router.add_delete("/api/series/{id}", delete_series)
    app.router.add_post("/api/series/{id}/episodes", attach_episode)
    app.router.add_delete("/api/series/{id}/episodes/{video_id}", detach_episode)
    app.router.add_post("/api/series/{id}/renumber", renumber)
    app.router.add_get("/api/series/{id}/seasons/{n}/numbering", season_numbering)
    app.router.add_put("/api/series/{id}/seasons/{n}/segments", put_season_segments)
    app.router.add_put("/api/videos/{id}/segments", put_video_segments)
    app.router.add_get("/api/admin/unmatched", list_unmatched)
