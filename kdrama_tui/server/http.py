"""Small HTTP helpers shared by the streaming and viewer routes: CORS and the site's public base URL."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server.keys import services

EXPOSED_HEADERS = "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified"


def cors_headers(request: web.Request) -> dict[str, str]:
    """``streaming.cors_origins``: ``*`` for any origin, else a comma-separated allow-list echoed back."""
    allowed = services(request).settings.streaming.cors_origins.strip()
    if allowed == "*":
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    origin = request.headers.get("Origin")
    if origin and origin in {o.strip() for o in allowed.split(",") if o.strip()}:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                "Vary": "Origin"}
    return {"Vary": "Origin"}


def public_base(request: web.Request) -> str:
    """``server.public_url`` when set (behind a proxy), else the origin this request came to."""
    configured = services(request).settings.server.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"
