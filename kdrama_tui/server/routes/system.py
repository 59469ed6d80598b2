"""Health and the API description."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server.keys import services
from kdrama_tui.server.middleware import error_response
from kdrama_tui.server.openapi import build_openapi


async def healthz(request: web.Request) -> web.Response:
    """Health check: 200 when the database answers."""
    try:
        await services(request).db.health()
    except Exception as exc:  # any driver failure means unhealthy
        return error_response(503, "database_unavailable", f"database unreachable: {type(exc).__name__}")
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of every route."""
    return web.json_response(build_openapi(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi)
