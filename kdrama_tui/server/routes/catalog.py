"""Catalog API: search, show, edit and delete videos; playback URLs."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server.auth import principal, require_admin, require_user
from kdrama_tui.server.http import public_base
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json
from kdrama_tui.services.catalog.service import viewer_of

_VIDEO_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
    for name, kind, text in [
        ("q", "string", "words to find in title, description or actors (case-insensitive, any script)"),
        ("genre", "string", "exact genre (case-insensitive)"),
        ("year", "integer", "release year"),
        ("actor", "string", "part of an actor's name"),
        ("status", "string", "uploading, processing, ready, failed or missing (failed: files gone)"),
        ("page", "integer", "1-based page number"),
        ("per_page", "integer", "1-100, default 24"),
        ("group", "string", "series: each series is one item {\"kind\": \"series\", ...as in GET /api/series} "
                            "among lone videos {\"kind\": \"video\", ...}, a series placed by its newest episode"),
    ]
]
_EPISODE_KEYS = ("series_id", "season", "season_number", "episode", "episode_number", "episode_end",
                 "episode_number_end", "episode_title", "air_date")


@describe(parameters=_VIDEO_QUERY)
async def list_videos(request: web.Request) -> web.Response:
    """Search the catalog.

    Anonymous callers see public, ready videos; signed-in users also their own; admins everything.
    Returns {"items", "total", "page", "per_page"}, newest first. With group=series the episodes of a
    series are one item (the home page's cards); status and actor filters do not apply then.
    """
    svc = services(request)
    query = request.query
    year_text = query.get("year")
    if query.get("group") == "series":
        result = await svc.series.catalog_page(
            viewer_of(await principal(request)), q=query.get("q"), genre=query.get("genre"),
            year=int_param(year_text, "year", 0, 1800, 2200) if year_text else None,
            page=int_param(query.get("page"), "page", 1, 1, 1_000_000),
            per_page=int_param(query.get("per_page"), "per_page", 24, 1, 100), base=public_base(request))
        return web.json_response(result)
    result = await svc.catalog.search(
        viewer_of(await principal(request)),
        q=query.get("q"), genre=query.get("genre"), actor=query.get("actor"), status=query.get("status") or None,
        year=int_param(year_text, "year", 0, 1800, 2200) if year_text else None,
        page=int_param(query.get("page"), "page", 1, 1, 1_000_000),
        per_page=int_param(query.get("per_page"), "per_page", 24, 1, 100),
        base=public_base(request))
    return web.json_response(result)


async def catalog_facets(request: web.Request) -> web.Response:
    """Genres and years present in the catalog the caller sees (filter menus)."""
    svc = services(request)
    return web.json_response(await svc.catalog.facets(viewer_of(await principal(request))))


async def get_video(request: web.Request) -> web.Response:
    """One video (public and ready, or the caller's own, or any for an admin).

    Episodes carry series_id, season_number, episode_number, episode_number_end, episode_title, air_date
    (null for a lone video) and segments [{type, start, end}].
    """
    svc = services(request)
    viewer = viewer_of(await principal(request))
    video = await svc.catalog.get(path_id(request), viewer)
    return web.json_response({**svc.catalog.video_dict(video, viewer, public_base(request)),
                              **await svc.series.video_extra(video)})


@describe(requestBody={"content": {"application/json": {"schema": {"type": "object", "properties": {
    "title": {"type": "string"}, "description": {"type": "string"}, "year": {"type": "integer"},
    "genre": {"type": "string"}, "actors": {"type": "array", "items": {"type": "string"}},
    "is_public": {"type": "boolean"},
    "series_id": {"type": "integer", "nullable": True, "description": "admin: the series (null takes it out)"},
    "season_number": {"type": "integer"}, "episode_number": {"type": "integer"},
    "episode_number_end": {"type": "integer", "nullable": True}, "episode_title": {"type": "string", "nullable": True},
    "air_date": {"type": "string", "nullable": True, "format": "date"}}}}}})
async def patch_video(request: web.Request) -> web.Response:
    """Change a video's metadata (owner or admin); its episode fields (admin only, 409 when the number
    is taken)."""
    svc = services(request)
    found = await require_user(request)
    viewer = viewer_of(found)
    data = await read_json(request)
    video_id = path_id(request)
    episode = {k: v for k, v in data.items() if k in _EPISODE_KEYS}
    if episode:
        await svc.catalog.get(video_id, viewer)  # 404 before 403 for a video the caller cannot see
        await require_admin(request)
        video = await svc.series.set_episode(video_id, episode)
    rest = {k: v for k, v in data.items() if k not in _EPISODE_KEYS}
    if rest or not episode:
        video = await svc.catalog.update(video_id, viewer, rest)
    return web.json_response({**svc.catalog.video_dict(video, viewer, public_base(request)),
                              **await svc.series.video_extra(video)})


async def delete_video(request: web.Request) -> web.Response:
    """Delete a video with all its stored files (owner or admin)."""
    svc = services(request)
    await svc.catalog.delete(path_id(request), viewer_of(await require_user(request)))
    return web.Response(status=204)


async def playback(request: web.Request) -> web.Response:
    """Playback URLs: {"hls_url","thumbnail_url","subtitles":[{"lang","label","url"}],"duration_seconds"}.

    For a private video only its owner or an admin gets them, and they carry a short-lived signed token
    (also in "watch_url", a link to the player page that works without signing in until it expires).
    """
    svc = services(request)
    found = await principal(request)
    data = await svc.playback.playback(path_id(request), viewer_id=found.user.id if found else None,
                                       admin=bool(found and found.is_admin), base=public_base(request))
    return web.json_response(data, headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/videos", list_videos)
    app.router.add_get("/api/catalog/facets", catalog_facets)
    app.router.add_get("/api/videos/{id}", get_video)
    app.router.add_patch("/api/videos/{id}", patch_video)
    app.router.add_delete("/api/videos/{id}", delete_video)
    app.router.add_get("/api/videos/{id}/playback", playback)
