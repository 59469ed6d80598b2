"""Errors as JSON: ``{"error": {"code", "message"}}`` with the right status, never a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from kdrama_tui.errors import DomainError, TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
               429: "too_many_requests", 503: "unavailable"}


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    body: dict[str, object] = {"code": code, "message": message}
    body.update(extra)
    return web.json_response({"error": body}, status=status)


def domain_error_response(exc: DomainError) -> web.Response:
    response = web.json_response(exc.to_dict(), status=exc.status)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="kdrama-tui"'
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return domain_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if not request.path.startswith("/api/") and exc.status in (404, 405):
            raise  # pages and HLS keep aiohttp's plain responses
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the server failed to handle this request")
