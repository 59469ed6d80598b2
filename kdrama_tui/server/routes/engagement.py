"""View beacons and comments."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.errors import Unauthorized
from kdrama_tui.server.auth import principal, require_admin
from kdrama_tui.server.client_address import client_ip
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json
from kdrama_tui.services.accounts.service import Principal
from kdrama_tui.services.catalog.comments import comment_dict
from kdrama_tui.services.catalog.service import viewer_of

_BEACON_MAX_BYTES = 4096


async def _optional_principal(request: web.Request) -> Principal | None:
    """Beacons and comments need no account; a bad credential on them is treated as none."""
    try:
        return await principal(request)
    except Unauthorized:
        return None


@describe(requestBody={"content": {"application/json": {"schema": {"type": "object", "properties": {
    "watch_duration": {"type": "number", "description": "seconds watched"}}}}}},
    responses={"204": {"description": "recorded (or dropped by the per-address limit)"}})
async def record_view(request: web.Request) -> web.Response:
    """Analytics beacon: a viewer watched this video for watch_duration seconds (no auth).

    Accepts any content type (navigator.sendBeacon sends text/plain). Durations are clamped to the video's
    length; floods from one address are dropped silently.
    """
    svc = services(request)
    video_id = path_id(request)
    data = await read_json(request, max_bytes=_BEACON_MAX_BYTES)  # {"watch_duration": seconds}
    found = await _optional_principal(request)
    await svc.analytics.record(video_id, data.get("watch_duration", 0), ip=client_ip(request),
                               user_agent=request.headers.get("User-Agent"),
                               user_id=found.user.id if found and found.via != "local" else None)
    return web.Response(status=204)


async def list_comments(request: web.Request) -> web.Response:
    """Approved comments of a video, newest first (admins may add ?include_pending=1)."""
    svc = services(request)
    viewer = viewer_of(await _optional_principal(request))
    comments = await svc.comments.list(
        path_id(request), viewer, token=request.query.get("token"),
        include_pending=request.query.get("include_pending") in ("1", "true"),
        limit=int_param(request.query.get("limit"), "limit", 100, 1, 500),
        offset=int_param(request.query.get("offset"), "offset", 0, 0, 10_000_000))
    return web.json_response({"items": [comment_dict(c) for c in comments]})


@describe(requestBody={"content": {"application/json": {"schema": {"type": "object", "required": ["content"],
    "properties": {"content": {"type": "string"}}}}}})
async def add_comment(request: web.Request) -> web.Response:
    """Comment on a video (no account needed; anonymous comments wait for an admin's approval)."""
    svc = services(request)
    found = await _optional_principal(request)
    viewer = viewer_of(found if found is None or found.via != "local" else None)
    data = await read_json(request, max_bytes=64 * 1024)
    comment = await svc.comments.add(path_id(request), viewer, data.get("content"), ip=client_ip(request),
                                     token=request.query.get("token"))
    return web.json_response(comment_dict(comment), status=201)


async def pending_comments(request: web.Request) -> web.Response:
    """The moderation queue: comments not approved (admin)."""
    await require_admin(request)
    comments = await services(request).comments.pending(
        limit=int_param(request.query.get("limit"), "limit", 100, 1, 500),
        offset=int_param(request.query.get("offset"), "offset", 0, 0, 10_000_000))
    return web.json_response({"items": [comment_dict(c) for c in comments]})


@describe(requestBody={"content": {"application/json": {"schema": {"type": "object", "required": ["is_approved"],
    "properties": {"is_approved": {"type": "boolean"}}}}}})
async def moderate_comment(request: web.Request) -> web.Response:
    """Approve (true) or hide (false) a comment (admin)."""
    await require_admin(request)
    data = await read_json(request)
    comment = await services(request).comments.set_approved(path_id(request), data.get("is_approved"))
    return web.json_response(comment_dict(comment))


async def delete_comment(request: web.Request) -> web.Response:
    """Delete a comment for good (admin)."""
    await require_admin(request)
    await services(request).comments.delete(path_id(request))
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/videos/{id}/views", record_view)
    app.router.add_get("/api/videos/{id}/comments", list_comments)
    app.router.add_post("/api/videos/{id}/comments", add_comment)
    app.router.add_get("/api/comments", pending_comments)
    app.router.add_patch("/api/comments/{id}", moderate_comment)
    app.router.add_delete("/api/comments/{id}", delete_comment)
