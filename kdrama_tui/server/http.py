"""Small HTTP helpers shared by the streaming and viewer routes: CORS and the site's public base URL."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aiohttp import web

from kdrama_tui.config import StreamingSettings
from kdrama_tui.server.keys import services

EXPOSED_HEADERS = "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"
_ANY_ORIGIN = MappingProxyType({"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS})


def cors_headers(request: web.Request) -> dict[str, str]:
    """``streaming.cors_origins``: ``*`` for any origin, else a comma-separated allow-list echoed back.

    A new dict each call (callers add to it); :func:`any_origin_cors` is the shared one for ``*``."""
    allowed = services(request).settings.streaming.cors_origins.strip()
    if allowed == "*":
        return dict(_ANY_ORIGIN)
    origin = request.headers.get("Origin")
    if origin and origin in {o.strip() for o in allowed.split(",") if o.strip()}:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                "Vary": "Origin"}
    return {"Vary": "Origin"}


def any_origin_cors(settings: StreamingSettings) -> Mapping[str, str] | None:
    """The CORS headers every response gets when any origin is allowed (read-only); None when they
    depend on the request's Origin."""
    return _ANY_ORIGIN if settings.cors_origins.strip() == "*" else None


def public_base(request: web.Request) -> str:
    """``server.public_url`` when set (behind a proxy), else the origin this request came to."""
    configured = services(request).settings.server.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"
