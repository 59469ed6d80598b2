"""The chunk upload API (CONTRACT.md "Chunked uploads"): thin handlers over UploadService."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server import bodies
from kdrama_tui.server.auth import require_user
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, path_id, read_json
from kdrama_tui.server.shield import run_to_end
from kdrama_tui.services.uploads import parse_chunk_number, parse_sha256

_JSON = "application/json"
_UPLOAD_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "integer"}, "status": {"type": "string", "enum": [
        "pending", "uploading", "assembling", "completed", "failed", "aborted", "expired"]},
    "chunk_size": {"type": "integer"}, "total_chunks": {"type": "integer"}, "total_size": {"type": "integer"},
    "uploaded_chunks": {"type": "array", "items": {"type": "integer"}},
    "bytes_received": {"type": "integer", "description": "verified bytes plus bytes of chunks in flight"},
    "bytes_verified": {"type": "integer"}, "progress": {"type": "number", "description": "percent, 0-100"},
    "video_id": {"type": "integer", "nullable": True}, "expires_at": {"type": "string", "nullable": True}}}


@describe(tags=["uploads"], requestBody={"required": True, "content": {_JSON: {
    "schema": bodies.openapi_schema(bodies.UploadCreate)}}},
    responses={"201": {"description": "Created", "content": {_JSON: {"schema": _UPLOAD_SCHEMA}}},
               "413": {"description": "total_size or the chunk size is over the limit"},
               "507": {"description": "not enough free disk space for this upload"}})
async def create_upload(request: web.Request) -> web.Response:
    """Open a chunked upload session.

    ``chunk_size`` is ``ceil(total_size / total_chunks)``; every chunk but the last has exactly that size.
    Unknown fields (``path``, ``owner_id``, ``status``...) are ignored.
    """
    caller = await require_user(request)
    body = bodies.parse(bodies.UploadCreate, await read_json(request))
    svc = services(request)
    upload = await svc.uploads.create(
        caller.user, filename=body.filename, total_size=body.total_size, total_chunks=body.total_chunks,
        metadata=body.metadata, sha256=body.sha256)
    return web.json_response(svc.uploads.view(upload), status=201,
                             headers={"Location": f"/api/uploads/{upload.id}"})


@describe(tags=["uploads"], responses={"200": {"description": "OK", "content": {_JSON: {"schema": {
    "type": "object", "properties": {"items": {"type": "array", "items": _UPLOAD_SCHEMA}}}}}}})
async def list_uploads(request: web.Request) -> web.Response:
    """The caller's uploads, newest first (``?limit=`` up to 500): find a session to resume."""
    caller = await require_user(request)
    limit = int_param(request.query.get("limit"), "limit", 100, 1, 500)
    return web.json_response({"items": await services(request).uploads.list_for_user(caller.user, limit=limit)})


@describe(tags=["uploads"], responses={"200": {"description": "OK", "content": {_JSON: {"schema": _UPLOAD_SCHEMA}}}})
async def get_upload(request: web.Request) -> web.Response:
    """An upload's status, verified chunks, bytes received (with chunks in flight) and progress."""
    caller = await require_user(request)
    svc = services(request)
    upload = await svc.uploads.get(caller.user, path_id(request))
    return web.json_response(svc.uploads.view(upload))


@describe(tags=["uploads"], parameters=[
    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
    {"name": "n", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
    {"name": "X-Chunk-SHA256", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "SHA-256 of the chunk's bytes, 64 hex digits"}],
    requestBody={"required": True, "content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary"}}}},
    responses={"200": {"description": "Verified (or already verified with the same checksum)"},
               "400": {"description": "bad chunk number, size or header"},
               "409": {"description": "verified earlier with another checksum, or being uploaded right now"},
               "422": {"description": "the bytes do not match X-Chunk-SHA256; nothing was kept"},
               "507": {"description": "disk full; nothing was kept, retry later"}})
async def put_chunk(request: web.Request) -> web.Response:
    """Upload chunk ``n`` (from 0), in any order and in parallel.

    The body is streamed to disk and hashed; the chunk counts only once its SHA-256 matches the
    ``X-Chunk-SHA256`` header and it is safely on disk.
    """
    caller = await require_user(request)
    upload_id = path_id(request)
    number = parse_chunk_number(request.match_info["n"])
    sha256 = parse_sha256(request.headers.get("X-Chunk-SHA256"))
    result = await run_to_end(services(request).uploads.put_chunk(
        caller.user, upload_id, number, request.content.iter_any(), sha256=sha256,
        content_length=request.content_length))
    return web.json_response({"chunk_number": number, "status": "verified", "stored": result.stored,
                              "uploaded_chunks": len(result.upload.uploaded_chunks),
                              "bytes_verified": result.upload.bytes_received})


@describe(tags=["uploads"], responses={
    "202": {"description": "Assembled and queued for transcoding", "content": {_JSON: {"schema": {
        "type": "object", "properties": {"video_id": {"type": "integer"}, "status": {"type": "string"}}}}}},
    "409": {"description": "chunks missing (listed in error.details.missing) or the upload ended"}})
async def complete_upload(request: web.Request) -> web.Response:
    """Finish an upload: assemble the chunks, check the file, create the video and queue its transcode.

    Idempotent: calling it again (or after a crash mid-assembly) gives the same video.
    """
    caller = await require_user(request)
    upload = await run_to_end(services(request).uploads.complete(caller.user, path_id(request)))
    return web.json_response({"video_id": upload.video_id, "status": "processing", "upload_id": upload.id,
                              "upload_status": upload.status}, status=202)


@describe(tags=["uploads"], responses={"204": {"description": "Aborted; its bytes are deleted"}})
async def delete_upload(request: web.Request) -> web.Response:
    """Abort an upload and delete the bytes received so far."""
    caller = await require_user(request)
    await services(request).uploads.abort(caller.user, path_id(request))
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/uploads", create_upload)
    app.router.add_get("/api/uploads", list_uploads)
    app.router.add_get("/api/uploads/{id}", get_upload)
    app.router.add_delete("/api/uploads/{id}", delete_upload)
    app.router.add_put("/api/uploads/{id}/chunks/{n}", put_chunk)
    app.router.add_post("/api/uploads/{id}/complete", complete_upload)
