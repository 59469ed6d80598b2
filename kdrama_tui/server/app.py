"""The application factory and the runner that serves it inside any asyncio loop (Textual's too)."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server.keys import SERVICES
from kdrama_tui.server.middleware import error_middleware
from kdrama_tui.server.routes import (
    admin,
    auth,
    catalog,
    engagement,
    failed_imports,
    hls,
    jobs,
    pages,
    series,
    system,
    tus,
    uploads,
)
from kdrama_tui.services.container import Services

ROUTE_MODULES = [system, auth, uploads, tus, jobs, catalog, series, engagement, hls, pages, admin, failed_imports]


def create_app(svc: Services) -> web.Application:
    app = web.Application(middlewares=[error_middleware],
                          client_max_size=int(svc.settings.server.client_max_size))
    app[SERVICES] = svc
    for module in ROUTE_MODULES:
        module.setup(app)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port without taking over the loop (AppRunner + TCPSite, never run_app)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("server is not listening")
