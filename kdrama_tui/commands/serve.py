"""``kdrama-tui serve``: the whole system without the dashboard, for a service manager."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from kdrama_tui.commands.common import open_services
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.services.server_lock import hold_server_lock

log = logging.getLogger("kdrama_tui")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run server, ingester and transcode queue without the dashboard")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))
    return 0


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The server lock lets `backup restore` see that this database is being served.
    async with open_services(args) as svc, hold_server_lock(svc.settings):
        runner = await start_http(create_app(svc), svc.settings.server.host, svc.settings.server.port)
        try:
            await svc.start_background()
            log.info("kdrama-tui serving on http://%s:%d (database %s)", svc.settings.server.host,
                     bound_port(runner), svc.db.dialect)
            await stop.wait()
            log.info("shutting down")
        finally:
            await runner.cleanup()
