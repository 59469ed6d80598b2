"""The admin API: everything the dashboard shows and does. Admin accounts only (401 anonymous, 403 others)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from kdrama_tui import logbuffer
from kdrama_tui.errors import ValidationError
from kdrama_tui.events import Event
from kdrama_tui.server.auth import require_admin
from kdrama_tui.server.keys import RESTART_HOOK, services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json
from kdrama_tui.services.admin.settings_view import describe_settings

log = logging.getLogger(__name__)

_SOCKETS = web.AppKey("admin_event_sockets", weakref.WeakSet)
_ADMIN = {"tags": ["admin"], "security": [{"bearer": []}, {"apiKey": []}]}


def _string(data: dict[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required", code="missing_field", details={"field": name})
        return default
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", code="invalid_field", details={"field": name})
    return value


def _address(request: web.Request) -> str:
    """Where this server can be reached: the configured public URL, else the socket it accepted on."""
    settings = services(request).settings.server
    if settings.public_url:
        return settings.base_url
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host = sockname[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{sockname[1]}"
    return settings.base_url


# ---- dashboard --------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def get_stats(request: web.Request) -> web.Response:
    """Dashboard figures: videos by status, uploads, transcodes, queue, disk, views, uptime, viewers now.

    ``views.per_day`` covers the last 14 UTC days, oldest first, for a sparkline. ``viewers.active`` counts
    the addresses that fetched a video's HLS files in the last ``viewers.window_seconds`` (per video in
    ``viewers.by_video``). ``cluster`` names this node, every kdrama-tui process connected to a PostgreSQL
    database (role, node, pid) and the node running each singleton job (backups, sweeps).
    """
    await require_admin(request)
    return web.json_response(await services(request).admin.stats(_address(request)))


@describe(**_ADMIN)
async def get_settings(request: web.Request) -> web.Response:
    """The effective configuration, secrets masked.

    ``items``: each setting with its value, default, ``kind`` (``size`` in bytes, or a duration unit),
    description and ``origin`` (``default``, ``file`` or ``environment KDRAMA_…``); ``derived``: the folders
    and addresses the server derives from them; ``settings``: the same values by section.
    """
    await require_admin(request)
    settings = services(request).settings
    return web.json_response({"settings": settings.effective(mask_secrets=True),
                              "source_file": settings.source_file, **describe_settings(settings)})


@describe(**_ADMIN)
async def get_logs(request: web.Request) -> web.Response:
    """Recent log records of the server process (``level``: minimum level, ``after``: id, ``limit``)."""
    await require_admin(request)
    try:
        level = logbuffer.level_number(request.query.get("level", "INFO"))
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_parameter") from None
    limit = int_param(request.query.get("limit"), "limit", 200, 1, 2000)
    after = int_param(request.query.get("after"), "after", 0, 0, 2**62)
    return web.json_response({"items": logbuffer.get_buffer().recent(limit, level, after)})


# ---- users ------------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def list_users(request: web.Request) -> web.Response:
    """Every account."""
    await require_admin(request)
    users = await services(request).accounts.list_users()
    return web.json_response({"items": [u.public_dict() for u in users]})


@describe(**_ADMIN)
async def create_user(request: web.Request) -> web.Response:
    """Create an account: ``{"username", "email", "password", "role"}``."""
    await require_admin(request)
    data = await read_json(request)
    user = await services(request).accounts.create_user(
        _string(data, "username"), _string(data, "email"), _string(data, "password"),
        _string(data, "role", required=False, default="user"))
    return web.json_response(user.public_dict(), status=201)


@describe(**_ADMIN)
async def get_user(request: web.Request) -> web.Response:
    """One account."""
    await require_admin(request)
    return web.json_response((await services(request).accounts.get_user(path_id(request))).public_dict())


@describe(**_ADMIN)
async def patch_user(request: web.Request) -> web.Response:
    """Change ``role``, ``is_active`` or ``password``; deactivating or a new password logs the user out.

    Refused with 409 ``last_admin`` when it would leave no active admin.
    """
    await require_admin(request)
    data = await read_json(request)
    user = await services(request).admin.update_user(path_id(request), data)
    return web.json_response(user.public_dict())


# ---- API keys ---------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def list_api_keys(request: web.Request) -> web.Response:
    """API keys (never the keys themselves) with owner, last use, expiry and revocation."""
    await require_admin(request)
    user_id = request.query.get("user_id")
    keys = await services(request).admin.list_api_keys(
        int_param(user_id, "user_id", 0, 1, 2**62) if user_id else None)
    return web.json_response({"items": keys})


@describe(**_ADMIN)
async def issue_api_key(request: web.Request) -> web.Response:
    """Issue a key: ``{"user_id" or "username", "name", "expires_days"}``; the key is in this answer only."""
    await require_admin(request)
    svc = services(request)
    data = await read_json(request)
    user_id = data.get("user_id")
    if user_id is None:
        user_id = (await svc.accounts.find_user(_string(data, "username"))).id
    elif not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ValidationError("user_id must be an integer", code="invalid_field", details={"field": "user_id"})
    expires = data.get("expires_days")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)):
        raise ValidationError("expires_days must be a number of days or null", code="invalid_expiry")
    plaintext, key = await svc.accounts.issue_api_key(
        user_id, _string(data, "name", required=False), float(expires) if expires is not None else None)
    listed = {k["id"]: k for k in await svc.admin.list_api_keys(key.user_id)}
    return web.json_response({"key": plaintext, "api_key": listed[key.id]}, status=201)


@describe(**_ADMIN)
async def revoke_api_key(request: web.Request) -> web.Response:
    """Revoke a key; it stops working at once (the row stays, for the record)."""
    await require_admin(request)
    await services(request).accounts.revoke_api_key(path_id(request))
    return web.Response(status=204)


# ---- uploads ----------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def list_uploads(request: web.Request) -> web.Response:
    """Upload sessions in flight, oldest first, with progress."""
    await require_admin(request)
    return web.json_response({"items": await services(request).admin.list_uploads()})


@describe(**_ADMIN)
async def abort_upload(request: web.Request) -> web.Response:
    """Abort an upload session in flight; its received bytes are deleted (409 once completed)."""
    caller = await require_admin(request)
    return web.json_response(await services(request).admin.abort_upload(caller.user, path_id(request)))


# ---- videos -----------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def video_detail(request: web.Request) -> web.Response:
    """One video with its files, renditions, subtitles, transcoding jobs, views and comment counts."""
    await require_admin(request)
    return web.json_response(await services(request).admin.video_detail(path_id(request)))


@describe(**_ADMIN)
async def list_comments(request: web.Request) -> web.Response:
    """Comments of every video, newest first: ``state`` = pending (default), approved or all.

    Approve or hide with ``PATCH /api/comments/{id}``, remove with ``DELETE /api/comments/{id}``.
    """
    await require_admin(request)
    items = await services(request).admin.list_comments(
        request.query.get("state", "pending"), int_param(request.query.get("limit"), "limit", 500, 1, 2000))
    return web.json_response({"items": items})


# ---- backups ----------------------------------------------------------------------------------------
@describe(**_ADMIN)
async def list_backups(request: web.Request) -> web.Response:
    """Backups, newest first (local, and cloud when configured), whether one is running, the schedule, what a
    backup holds, the last restore's report and the start-up check of the media (``media_check``)."""
    await require_admin(request)
    return web.json_response(await services(request).admin.list_backups())


@describe(**_ADMIN)
async def run_backup(request: web.Request) -> web.Response:
    """Start a backup now (``{"cloud": true}`` also uploads an encrypted copy); 202, then backup.* events."""
    await require_admin(request)
    data = await read_json(request)
    cloud = data.get("cloud", False)
    if not isinstance(cloud, bool):
        raise ValidationError("cloud must be true or false", code="invalid_field", details={"field": "cloud"})
    services(request).admin.start_backup(cloud)
    return web.json_response({"started": True, "cloud": cloud}, status=202)


@describe(**_ADMIN)
async def restore_backup(request: web.Request) -> web.Response:
    """Restore a listed backup (``{"name"}``) over this server's database, then restart the server.

    The backup is fetched, decrypted and verified before anything changes; the replaced database is kept
    as a ``kdrama-prerestore-…`` backup. The answer comes before the restart (``"restarting"``). A backup
    holds the database, master key and configuration, not media (``holds``): ``reconciled`` reports the ready
    videos whose files are gone, re-queued from their original or marked missing (status filter ``missing``).
    """
    await require_admin(request)
    data = await read_json(request)
    result = await services(request).admin.restore(_string(data, "name"))
    restart = request.app.get(RESTART_HOOK)
    if restart is not None:
        log.warning("database restored from %s; restarting to load it", result["restored"])
        asyncio.get_running_loop().call_later(0.5, restart)  # after this answer has gone out
    return web.json_response({**result, "restarting": restart is not None})


# ---- live events ------------------------------------------------------------------------------------
def _event_message(event: Event) -> dict[str, Any]:
    return {"kind": "event", **event.to_dict()}


def _log_message(record: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "log", **record}


@describe(**_ADMIN)
async def events(request: web.Request) -> web.StreamResponse:
    """Live events as a WebSocket (plain GET: the recent history as JSON).

    Query: ``history`` (recent events sent first, default 50), ``after`` + ``boot`` (on reconnecting: only
    events after that id, if the server has not restarted since the ``hello`` that gave ``boot``), ``logs``
    (also stream log records at or above this level, e.g. ``INFO``). Each WebSocket message is a JSON
    object with ``kind``: ``hello`` (first, with ``boot``), ``event`` (id, type, ts, data) or ``log``.
    """
    await require_admin(request)
    svc = services(request)
    bus = svc.events
    boot = repr(svc.started_at)
    history = int_param(request.query.get("history"), "history", 50, 0, 200)
    after = int_param(request.query.get("after"), "after", 0, 0, 2**62)
    if request.query.get("boot", boot) != boot:
        after = 0  # ids restarted with the server: the client's last id means nothing here
    logs_level: int | None = None
    if request.query.get("logs"):
        try:
            logs_level = logbuffer.level_number(request.query["logs"])
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid_parameter") from None
    if request.headers.get("Upgrade", "").lower() != "websocket":
        recent = [e for e in bus.recent(200) if e.id > after][-history:] if history else []
        return web.json_response({"items": [_event_message(e) for e in recent]})

    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    request.app[_SOCKETS].add(ws)
    with bus.subscription() as event_queue, \
            (logbuffer.get_buffer().subscription() if logs_level is not None else contextlib.nullcontext()) \
            as log_queue:
        await _send(ws, {"kind": "hello", "boot": boot})
        # Subscribed before the history is read, so nothing published in between is lost; ids dedupe.
        last_id = after
        for event in ([e for e in bus.recent(200) if e.id > after][-history:] if history else []):
            await _send(ws, _event_message(event))
            last_id = event.id
        if log_queue is not None:
            for record in logbuffer.get_buffer().recent(100, logs_level):
                await _send(ws, _log_message(record))
        pump = asyncio.create_task(_pump(ws, event_queue, log_queue, logs_level or 0, last_id))
        try:
            async for message in ws:  # the client sends nothing; this waits for it to go away
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
    return ws


async def _pump(ws: web.WebSocketResponse, event_queue: asyncio.Queue[Event],
                log_queue: asyncio.Queue[dict[str, Any]] | None, min_level: int, last_id: int) -> None:
    """Forward events (and log records) to one socket; a single writer, as aiohttp sockets need."""
    event_get: asyncio.Task[Event] | None = None
    log_get: asyncio.Task[dict[str, Any]] | None = None
    try:
        while not ws.closed:
            if event_get is None:
                event_get = asyncio.create_task(event_queue.get())
            if log_queue is not None and log_get is None:
                log_get = asyncio.create_task(log_queue.get())
            waiting = {t for t in (event_get, log_get) if t is not None}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if event_get in done:
                event = event_get.result()
                event_get = None
                if event.id > last_id:
                    await _send(ws, _event_message(event))
            if log_get is not None and log_get in done:
                record = log_get.result()
                log_get = None
                if record["levelno"] >= min_level:
                    await _send(ws, _log_message(record))
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away mid-send; the handler's receive loop ends with the connection
    finally:
        for task in (event_get, log_get):
            if task is not None:
                task.cancel()


async def _send(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    # default=str: a publisher's odd value (a datetime, a Path) must not kill the stream
    await ws.send_str(json.dumps(message, default=str))


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, say goodbye to attached dashboards instead of making the server wait for them."""
    for ws in list(app[_SOCKETS]):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def setup(app: web.Application) -> None:
    logbuffer.get_buffer()  # capture from now on, whichever command built the app
    app[_SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(_close_sockets)
    r = app.router
    r.add_get("/api/admin/stats", get_stats)
    r.add_get("/api/admin/settings", get_settings)
    r.add_get("/api/admin/logs", get_logs)
    r.add_get("/api/admin/events", events)
    r.add_get("/api/admin/users", list_users)
    r.add_post("/api/admin/users", create_user)
    r.add_get("/api/admin/users/{id}", get_user)
    r.add_patch("/api/admin/users/{id}", patch_user)
    r.add_get("/api/admin/api-keys", list_api_keys)
    r.add_post("/api/admin/api-keys", issue_api_key)
    r.add_delete("/api/admin/api-keys/{id}", revoke_api_key)
    r.add_get("/api/admin/uploads", list_uploads)
    r.add_delete("/api/admin/uploads/{id}", abort_upload)
    r.add_get("/api/admin/videos/{id}", video_detail)
    r.add_get("/api/admin/comments", list_comments)
    r.add_get("/api/admin/backups", list_backups)
    r.add_post("/api/admin/backups", run_backup)
    r.add_post("/api/admin/backups/restore", restore_backup)
