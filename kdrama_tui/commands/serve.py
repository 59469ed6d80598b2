"""``kdrama-tui serve``: the whole system without the dashboard, for a service manager."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from kdrama_tui.commands.common import open_services
from kdrama_tui.logbuffer import configure_logging
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.server.keys import RESTART_HOOK
from kdrama_tui.services.server_lock import hold_server_lock

log = logging.getLogger("kdrama_tui")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run server, ingester and transcode queue without the dashboard")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(to_stderr=True)  # stderr for the service manager; the buffer for attached consoles
    if asyncio.run(serve(args)):
        restart_in_place()
    return 0


def restart_in_place() -> None:
    """Run this same command line again in this process (same pid, so service managers keep tracking it)."""
    log.warning("restarting: %s", " ".join(sys.orig_argv))
    logging.shutdown()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 (our own command line, no shell)


async def serve(args: argparse.Namespace) -> bool:
    """Serve until SIGINT/SIGTERM; True when the server asked to be restarted (after a restore)."""
    restart = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The server lock lets `backup restore` see that this database is being served.
    async with open_services(args) as svc, hold_server_lock(svc.settings):
        app = create_app(svc)

        def request_restart() -> None:
            nonlocal restart
            restart = True
            stop.set()

        app[RESTART_HOOK] = request_restart
        runner = await start_http(app, svc.settings.server.host, svc.settings.server.port)
        try:
            await svc.start_background()
            log.info("kdrama-tui serving on http://%s:%d (database %s)", svc.settings.server.host,
                     bound_port(runner), svc.db.dialect)
            await stop.wait()
            log.info("shutting down")
        finally:
            await runner.cleanup()
    return restart
