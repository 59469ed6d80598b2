"""tus 1.0 at /api/tus/: core, creation, creation-with-upload, creation-defer-length, checksum,
termination, expiration; CORS (``uploads.cors_origins``) for browser clients on other sites.

The handlers speak the protocol's headers; storage, limits, auth and the hand-off to the library are the
chunk API's (UploadService). Upload URLs are ``/api/tus/<token>`` with 192 random bits, and the owner is
still checked on every request (someone else's upload is a 404).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from kdrama_tui.errors import DomainError
from kdrama_tui.models import Upload
from kdrama_tui.server import tus_headers as tus
from kdrama_tui.server.auth import require_user
from kdrama_tui.server.keys import services
from kdrama_tui.server.middleware import domain_error_response, error_response
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.shield import run_to_end

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHECKSUM_MISMATCH = 460


def _tus_headers() -> dict[str, str]:
    return {"Tus-Resumable": tus.TUS_VERSION, "Cache-Control": "no-store"}


def tus_endpoint(handler: Handler) -> Handler:
    """Check ``Tus-Resumable`` (412 otherwise) and put the tus and CORS headers on every answer, errors
    included (a browser client can only read an error whose response carries them).

    ``X-HTTP-Method-Override``, whenever present, is the request's method (tus 1.0), whatever method
    carried it: the request goes to the operation it names.
    """

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        method = effective_method(request)
        if method != "OPTIONS" and request.headers.get("Tus-Resumable") != tus.TUS_VERSION:
            response: web.StreamResponse = error_response(
                412, "unsupported_tus_version", f"this server speaks tus {tus.TUS_VERSION} (send Tus-Resumable)")
            response.headers["Tus-Version"] = tus.TUS_VERSION
        else:
            try:
                response = await (handler if method == request.method else _operation(request, method))(request)
            except DomainError as exc:
                response = _error(exc)
        response.headers.update(_tus_headers())
        response.headers.update(_cors(request))
        return response

    return wrapped


def effective_method(request: web.Request) -> str:
    override = request.headers.get("X-HTTP-Method-Override")
    return override.strip().upper() if override is not None and override.strip() else request.method


def _operation(request: web.Request, method: str) -> Handler:
    """The handler (without the wrapper) for ``method`` on the requested resource; 405 if it has none."""
    on_upload = "token" in request.match_info
    operations: dict[str, Handler] = ({"HEAD": _head, "PATCH": _patch, "DELETE": _delete, "OPTIONS": _options}
                                      if on_upload else {"POST": _create, "OPTIONS": _options})
    if method not in operations:
        allowed = ", ".join(operations)
        raise DomainError(f"{method[:20]} is not a tus operation on this URL (allowed: {allowed})",
                          code="method_not_allowed", status=405)
    return operations[method]


def _cors(request: web.Request) -> dict[str, str]:
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    return tus.cors_headers(services(request).settings.uploads.cors_origins, request.headers.get("Origin"),
                            preflight=preflight)


def _error(exc: DomainError) -> web.Response:
    response = domain_error_response(exc)
    if exc.code == "checksum_mismatch":  # tus's own status for it (the checksum extension)
        response.set_status(CHECKSUM_MISMATCH, "Checksum Mismatch")
    if "offset" in exc.details:
        response.headers["Upload-Offset"] = str(exc.details["offset"])
    return response


def _upload_headers(request: web.Request, upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.bytes_received), "X-Upload-Id": str(upload.id)}
    if upload.total_size is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.total_size)
    if upload.expires_at is not None and upload.status in ("pending", "uploading"):
        headers["Upload-Expires"] = tus.http_date(upload.expires_at)
    if upload.video_id is not None:
        headers["X-Video-Id"] = str(upload.video_id)
    return headers


@tus_endpoint
async def options(request: web.Request) -> web.Response:
    """tus discovery (version, extensions, maximum size, checksum algorithms) and CORS preflight."""
    return await _options(request)


async def _options(request: web.Request) -> web.Response:
    limits = services(request).settings.uploads
    return web.Response(status=204, headers={
        "Tus-Version": tus.TUS_VERSION, "Tus-Extension": ",".join(tus.EXTENSIONS),
        "Tus-Max-Size": str(limits.max_size), "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUM_ALGORITHMS)})


@describe(tags=["uploads"], responses={"201": {"description": "Created; Location is the upload URL"},
                                       "412": {"description": "missing or unsupported Tus-Resumable"},
                                       "413": {"description": "Upload-Length over uploads.max_size"}})
@tus_endpoint
async def create(request: web.Request) -> web.Response:
    """tus creation (and creation-with-upload): ``Upload-Length`` and ``Upload-Metadata`` make an upload.

    ``Upload-Defer-Length: 1`` instead of ``Upload-Length`` leaves the length to a later PATCH. Metadata
    keys: filename, title, description, year, genre, actors, is_public, and optionally sha256 of the whole
    file. A body with ``Content-Type: application/offset+octet-stream`` is the first PATCH.
    """
    return await _create(request)


async def _create(request: web.Request) -> web.Response:
    caller = await require_user(request)
    deferred = tus.parse_defer_length(request.headers)
    length = None if deferred else tus.parse_integer_header(request.headers.get("Upload-Length"), "Upload-Length")
    raw_metadata = request.headers.get("Upload-Metadata")
    fields = tus.creation_fields(tus.parse_metadata(raw_metadata))
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    uploads = services(request).uploads
    upload = await uploads.create(caller.user, total_size=length, protocol="tus",
                                  tus_metadata=(raw_metadata or "").strip(), **fields)
    location = f"/api/tus/{upload.token}"
    if request.content_type == tus.OFFSET_CONTENT_TYPE and request.body_exists:
        try:
            upload = await run_to_end(uploads.append(
                caller.user, upload.token, offset=0, body=request.content.iter_any(),
                content_length=request.content_length, checksum=checksum,
                stop=functools.partial(_drop_connection, request)))
        except DomainError as exc:  # the upload exists; tell the client where, so it can resume
            response = _error(exc)
            response.headers["Location"] = location
            response.headers.setdefault("Upload-Offset", "0")
            return response
    return web.Response(status=201, headers={"Location": location, **_upload_headers(request, upload)})


@tus_endpoint
async def head(request: web.Request) -> web.Response:
    """tus offset: how many bytes the server has, so the client resumes from there.

    ``Upload-Metadata`` is the header exactly as the client sent it at creation (absent if it sent none).
    """
    return await _head(request)


async def _head(request: web.Request) -> web.Response:
    caller = await require_user(request)
    upload = await services(request).uploads.settled_tus(caller.user, request.match_info["token"])
    services(request).uploads.require_live(upload)
    headers = _upload_headers(request, upload)
    metadata = tus.encode_metadata(upload) if upload.tus_metadata is None else upload.tus_metadata
    if metadata:
        headers["Upload-Metadata"] = metadata
    return web.Response(status=200, headers=headers)


@tus_endpoint
async def patch(request: web.Request) -> web.Response:
    """tus append: the body is written at ``Upload-Offset``; the last byte completes the upload.

    ``Upload-Length`` declares a deferred length (once). An empty PATCH at the final offset of a
    completed upload answers 204 with its offset (a client resuming after its last PATCH's answer was lost).
    """
    return await _patch(request)


async def _patch(request: web.Request) -> web.Response:
    caller = await require_user(request)
    if request.content_type != tus.OFFSET_CONTENT_TYPE:
        raise DomainError(f"PATCH needs Content-Type: {tus.OFFSET_CONTENT_TYPE}", code="unsupported_media_type",
                          status=415)
    offset = tus.parse_integer_header(request.headers.get("Upload-Offset"), "Upload-Offset")
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    raw_length = request.headers.get("Upload-Length")
    length = None if raw_length is None else tus.parse_integer_header(raw_length, "Upload-Length")
    upload = await run_to_end(services(request).uploads.append(
        caller.user, request.match_info["token"], offset=offset, body=request.content.iter_any(),
        content_length=request.content_length if request.body_exists else 0, checksum=checksum,
        upload_length=length, stop=functools.partial(_drop_connection, request)))
    return web.Response(status=204, headers=_upload_headers(request, upload))


@tus_endpoint
async def delete(request: web.Request) -> web.Response:
    """tus termination: stop the upload and delete its bytes; a completed upload's record ends, its
    video stays. Later requests about the upload (a second DELETE too) answer 410."""
    return await _delete(request)


async def _delete(request: web.Request) -> web.Response:
    caller = await require_user(request)
    await services(request).uploads.abort_tus(caller.user, request.match_info["token"])
    return web.Response(status=204)


@tus_endpoint
async def method_override(request: web.Request) -> web.Response:
    """Any other method on an upload URL: what ``X-HTTP-Method-Override`` names (PATCH, DELETE, HEAD), for
    clients behind proxies that drop PATCH; 405 without it."""
    raise DomainError("send X-HTTP-Method-Override (PATCH, DELETE or HEAD) with this method",
                      code="method_not_allowed", status=405)


def _drop_connection(request: web.Request) -> None:
    """End a superseded PATCH: its body stops as if the client had gone (what arrived is kept)."""
    if request.transport is not None:
        request.transport.abort()


def setup(app: web.Application) -> None:
    for path in ("/api/tus", "/api/tus/"):
        app.router.add_route("OPTIONS", path, options)
        app.router.add_post(path, create)
    app.router.add_route("OPTIONS", "/api/tus/{token}", options)
    app.router.add_route("HEAD", "/api/tus/{token}", head)
    app.router.add_patch("/api/tus/{token}", patch)
    app.router.add_delete("/api/tus/{token}", delete)
    app.router.add_post("/api/tus/{token}", method_override)
    for path in ("/api/tus", "/api/tus/", "/api/tus/{token}"):  # X-HTTP-Method-Override on any other method
        app.router.add_route("*", path, method_override)
