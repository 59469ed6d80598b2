"""HLS delivery under ``/hls/{video_id}/``: playlists from memory, segments by sendfile (or nginx, or S3).

Order of checks on every request: the path must be a plain name inside the video's folder (else 404),
the video must exist and be ready (else 404), a private video needs a valid token for this very video
(401 without, 403 for a bad, foreign or expired one). None of it touches the database once the video is
cached (``services/playback.py``). Tokens travel in the query string and are never logged.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from aiohttp import web

from kdrama_tui.config import StreamingSettings
from kdrama_tui.errors import DomainError, NotFound
from kdrama_tui.server.client_address import client_ip
from kdrama_tui.server.http import any_origin_cors, cors_headers
from kdrama_tui.server.keys import services
from kdrama_tui.server.middleware import domain_error_response
from kdrama_tui.services.playback.files import CachedText, VideoAccess, content_type, is_rewritten_text, is_segment
from kdrama_tui.storage import Storage

_FIXED = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
OTHER_MAX_AGE = 3600  # subtitles and images: may be replaced (a new subtitle upload), revalidated by ETag


def _cache_control(settings: StreamingSettings, access: VideoAccess, path: str) -> str:
    """Browsers keep media for max-age; shared caches (a CDN edge, a proxy cache) at most ``cdn_max_age``
    (``s-maxage``), so an edge stops serving a video made private or deleted within that time. Private
    media say ``private``: no shared cache ever stores them."""
    if is_rewritten_text(path):
        max_age, extra = settings.playlist_max_age, ""
    elif is_segment(path):
        max_age, extra = settings.segment_max_age, ", immutable"
    else:
        max_age, extra = OTHER_MAX_AGE, ""
    if not access.is_public:
        return f"private, max-age={max_age}{extra}"
    shared = f", s-maxage={settings.cdn_max_age}" if settings.cdn_max_age < max_age else ""
    return f"public, max-age={max_age}{shared}{extra}"


def _video_id(request: web.Request) -> int:
    raw = request.match_info.get("video_id", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound("not found")
    return int(raw)


async def hls_file(request: web.Request) -> web.StreamResponse:
    """A playlist, segment, subtitle or image of a video (private videos need ?token=)."""
    try:
        video_id = _video_id(request)
        # Legitimate names never need percent-encoding: an encoded slash, dot or NUL is an attack, not a file.
        if "%" in request.rel_url.raw_path:
            raise NotFound("not found")
        raw = request.match_info["path"]
        token = request.query.get("token") if request.query_string else None
        # The hot path, without a single await: a cached playlist of a cached video.
        response = _cached_text(request, video_id, raw, token)
        if response is None:
            response = await _serve(request, video_id, raw, token)
        services(request).playback.audience.seen(client_ip(request), video_id)  # only files it was allowed
        return response
    except DomainError as exc:
        response = domain_error_response(exc)
        response.headers.update(cors_headers(request))
        response.headers["Cache-Control"] = "no-store"
        return response


def _cached_text(request: web.Request, video_id: int, path: str, token: str | None) -> web.Response | None:
    """The response for a playlist this process has in memory, or None to take the full path."""
    playback = services(request).playback
    cached = playback.fresh_text(video_id, path)  # only validated paths are ever cached
    if cached is None:
        return None
    access = playback.authorize_cached(video_id, token)
    if access is None:
        return None
    return _text_response(request, access, path, cached, token)


async def _serve(request: web.Request, video_id: int, raw: str, token: str | None) -> web.StreamResponse:
    svc = services(request)
    found = await svc.playback.locate(video_id, raw, token)
    access, path = found.access, found.path
    if found.text is not None:
        return _text_response(request, access, path, found.text, token)
    headers = {**cors_headers(request), "Content-Type": content_type(path),
               "Cache-Control": _cache_control(svc.settings.streaming, access, path), **_FIXED}
    if found.local is not None:
        streaming = svc.settings.streaming
        if streaming.x_accel_redirect:
            # nginx sends the file itself (sendfile, ranges, ETag) from its internal location.
            headers["X-Accel-Redirect"] = streaming.x_accel_prefix + quote(access.prefix + path)
            return web.Response(status=200, headers=headers)
        return web.FileResponse(found.local, chunk_size=256 * 1024, headers=headers)
    if found.redirect is not None:
        keep = {k: v for k, v in headers.items() if k.startswith("Access-Control") or k == "Referrer-Policy"}
        keep["Cache-Control"] = f"private, max-age={max(0, svc.settings.storage.presign_seconds // 2)}"
        raise web.HTTPFound(found.redirect, headers=keep)
    assert found.storage is not None
    return await _serve_remote(request, found.storage, access.prefix + path, found.size, headers)


def _text_response(request: web.Request, access: VideoAccess, path: str, cached: CachedText,
                   token: str | None) -> web.Response:
    """A playlist (or the seek-preview WebVTT) from memory, with the token written into its URIs.

    Each rendered body keeps its response headers, so a repeat request only copies them."""
    rendered = cached.render(None if access.is_public else token)
    streaming = services(request).settings.streaming
    shared_cors = any_origin_cors(streaming)
    headers = rendered.headers
    if headers is None:
        headers = rendered.headers = {
            "Content-Type": content_type(path), "Cache-Control": _cache_control(streaming, access, path),
            "Last-Modified": cached.last_modified_http, "ETag": f'"{rendered.etag}"', **_FIXED,
            **(shared_cors or {})}
    if shared_cors is None:
        headers = {**headers, **cors_headers(request)}
    if "If-None-Match" in request.headers and any(
            e.value == rendered.etag or e.value == "*" for e in (request.if_none_match or ())):
        return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    return web.Response(body=rendered.body, headers=headers)


async def _serve_remote(request: web.Request, storage: Storage, key: str, size: int,
                        headers: dict[str, str]) -> web.StreamResponse:
    """An object on S3 streamed through, with byte ranges."""
    etag = hashlib.blake2s(f"{key}:{size}".encode(), digest_size=8).hexdigest()
    if any(e.value == etag for e in (request.if_none_match or ())):
        response = web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        response.etag = etag
        return response
    start, end, status = 0, size, 200
    try:
        requested = request.http_range
    except ValueError:
        requested = None
        if request.headers.get("Range"):
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if requested is not None and requested.start is not None:
        if requested.start < 0 and requested.stop is None:  # suffix range: the last N bytes
            start = max(0, size + requested.start)
        else:
            start = requested.start
            end = min(size, requested.stop if requested.stop is not None else size)
        if start >= size:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        status = 206
    response = web.StreamResponse(status=status, headers={**headers, "Accept-Ranges": "bytes"})
    response.etag = etag
    response.content_length = end - start
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    await response.prepare(request)
    if request.method != "HEAD":
        async for block in storage.read(key, start, end):
            await response.write(block)
    await response.write_eof()
    return response


async def hls_preflight(request: web.Request) -> web.Response:
    """CORS preflight for players on other origins (Range requests)."""
    headers = cors_headers(request)
    headers.update({"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
                    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since",
                    "Access-Control-Max-Age": "86400"})
    return web.Response(status=204, headers=headers)


def setup(app: web.Application) -> None:
    app.router.add_get("/hls/{video_id}/{path:.+}", hls_file)
    app.router.add_route("OPTIONS", "/hls/{video_id}/{path:.+}", hls_preflight)
