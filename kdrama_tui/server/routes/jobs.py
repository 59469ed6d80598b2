"""The transcode queue for admins, and subtitle tracks for owners: thin handlers over ``svc.media``."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.errors import TooLarge, ValidationError
from kdrama_tui.media.subtitles import MAX_SUBTITLE_BYTES
from kdrama_tui.server.auth import require_admin, require_user
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json

_JOB = {"type": "object", "properties": {
    "id": {"type": "integer"}, "video_id": {"type": "integer"}, "status": {"type": "string"},
    "priority": {"type": "integer"}, "progress": {"type": "integer"}, "attempt": {"type": "integer"},
    "error_message": {"type": "string", "nullable": True},
    "warnings": {"type": "array", "items": {"type": "string"}, "nullable": True},
    "worker_id": {"type": "string", "nullable": True},
    "ladder": {"type": "object", "nullable": True, "description": (
        "Path taken (copy: the source's H.264 is the top rendition; full: everything re-encoded), why, the "
        "video encoder, and per rendition whether it is already playable"), "properties": {
        "path": {"type": "string", "enum": ["copy", "full"]}, "reason": {"type": "string"},
        "encoder": {"type": "string"}, "renditions": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"},
            "source": {"type": "string", "enum": ["copy", "encoded"]}, "progress": {"type": "integer"},
            "ready": {"type": "boolean"}}}}}}}}
_PRIORITY_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"priority": {"type": "integer", "minimum": 1, "maximum": 10}}}}}}


@describe(responses={"200": {"description": "Jobs in queue order", "content": {"application/json": {
    "schema": {"type": "object", "properties": {"items": {"type": "array", "items": _JOB}}}}}}})
async def list_jobs(request: web.Request) -> web.Response:
    """List transcode jobs: running, then queued by priority and age, then finished (newest first).

    ``status`` filters (comma-separated: queued, processing, completed, failed, cancelled); ``video_id``,
    ``limit`` (1-500) and ``offset`` page through them. Admins only.
    """
    await require_admin(request)
    query = request.query
    statuses = [s.strip() for s in query.get("status", "").split(",") if s.strip()]
    video_id = int_param(query.get("video_id"), "video_id", 0, 1, 10**15) or None
    items = await services(request).media.queue.list_jobs(
        statuses, video_id, limit=int_param(query.get("limit"), "limit", 100, 1, 500),
        offset=int_param(query.get("offset"), "offset", 0, 0, 10**9))
    return web.json_response({"items": items})


async def get_job(request: web.Request) -> web.Response:
    """One transcode job. Admins only."""
    await require_admin(request)
    job = await services(request).media.queue.get_job(path_id(request))
    return web.json_response(job.to_dict())


@describe(requestBody=_PRIORITY_BODY)
async def patch_job(request: web.Request) -> web.Response:
    """Change a queued job's priority (``{"priority": 1-10}``, 1 runs first). Admins only."""
    await require_admin(request)
    body = await read_json(request)
    if "priority" not in body:
        raise ValidationError("priority is required", code="invalid_priority")
    job = await services(request).media.queue.set_priority(path_id(request), body["priority"])
    return web.json_response(job.to_dict())


async def cancel_job(request: web.Request) -> web.Response:
    """Cancel a queued or running job: ffmpeg is stopped and its partial output removed. Admins only."""
    await require_admin(request)
    job = await services(request).media.queue.cancel(path_id(request))
    return web.json_response(job.to_dict())


@describe(requestBody=_PRIORITY_BODY)
async def transcode_video(request: web.Request) -> web.Response:
    """Queue a new transcode of a video (e.g. a retry after a failure). Admins only; 409 while one is active."""
    await require_admin(request)
    body = await read_json(request)
    job = await services(request).media.queue.enqueue(path_id(request), priority=body.get("priority", 5))
    return web.json_response(job.to_dict(), status=202)


@describe(requestBody={"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "lang": {"type": "string"}, "label": {"type": "string"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}})
async def add_subtitle(request: web.Request) -> web.Response:
    """Add a subtitle track (SRT, VTT, ASS, SMI in any common encoding) to a ready video, without re-encoding.

    Send multipart form data (``file``, ``lang``, ``label``) or the file as the raw body with ``lang`` and
    ``label`` as query parameters. The owner or an admin only.
    """
    caller = await require_user(request)
    svc = services(request)
    video = await svc.media.tracks.video_for(path_id(request), caller.user.id, is_admin=caller.is_admin)
    lang, label = request.query.get("lang"), request.query.get("label")
    filename, data = "", b""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "file":  # type: ignore[union-attr]
                filename = part.filename or ""  # type: ignore[union-attr]
                data = await _read_limited(part)
            elif part.name in ("lang", "label"):  # type: ignore[union-attr]
                value = (await _read_limited(part, 1024)).decode("utf-8", "replace")
                if part.name == "lang":  # type: ignore[union-attr]
                    lang = value
                else:
                    label = value
    else:
        if request.content_length is not None and request.content_length > MAX_SUBTITLE_BYTES:
            raise TooLarge("subtitle files are limited to 10 MiB")
        data = await request.content.read(MAX_SUBTITLE_BYTES + 1)
        filename = request.query.get("filename", "")
    if len(data) > MAX_SUBTITLE_BYTES:
        raise TooLarge("subtitle files are limited to 10 MiB")
    if not data:
        raise ValidationError("no subtitle file in the request", code="missing_file")
    added = await svc.media.tracks.add(video.id, data, filename=filename, language=lang, label=label)
    return web.json_response(added.to_dict(video.id), status=201)


async def _read_limited(part: object, limit: int = MAX_SUBTITLE_BYTES) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(65536):  # type: ignore[attr-defined]
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"a form field is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/jobs", list_jobs)
    app.router.add_get("/api/jobs/{id}", get_job)
    app.router.add_patch("/api/jobs/{id}", patch_job)
    app.router.add_post("/api/jobs/{id}/cancel", cancel_job)
    app.router.add_post("/api/videos/{id}/transcode", transcode_video)
    app.router.add_post("/api/videos/{id}/subtitles", add_subtitle)
