"""``kdrama-tui serve``: the whole system without the dashboard, for a service manager."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from kdrama_tui.commands.common import CommandError, settings_from
from kdrama_tui.errors import StartupError
from kdrama_tui.logbuffer import configure_logging
from kdrama_tui.server.host import Host, Roles

log = logging.getLogger("kdrama_tui")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run server, ingester and transcode queue without the dashboard")
    parser.add_argument("--no-transcode", action="store_true",
                        help="do not run the transcode queue here (a web node; `kdrama-tui worker`s transcode)")
    parser.add_argument("--no-ingest", action="store_true", help="do not watch the watch folders here")
    parser.add_argument("--no-background", action="store_true",
                        help="run none of the cluster's periodic jobs here (backups, sweeps, upload cleanup)")
    parser.set_defaults(handler=run)


def roles_from(args: argparse.Namespace) -> Roles:
    """A web node of a cluster leaves transcoding to workers, and may leave the rest to other nodes."""
    return Roles(queue=not args.no_transcode, ingest=not args.no_ingest, schedules=not args.no_background)


def run(args: argparse.Namespace) -> int:
    configure_logging(to_stderr=True)  # stderr for the service manager; the buffer for attached consoles
    try:
        restart = asyncio.run(serve(Host(settings_from(args), roles_from(args))))
    except StartupError as exc:
        raise CommandError(str(exc)) from None
    if restart:
        restart_in_place()
    return 0


def restart_in_place() -> None:
    """Run this same command line again in this process (same pid, so service managers keep tracking it)."""
    log.warning("restarting: %s", " ".join(sys.orig_argv))
    logging.shutdown()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 (our own command line, no shell)


async def serve(host: Host) -> bool:
    """Serve until SIGINT/SIGTERM; True when the server asked to be restarted (after a restore)."""
    restart = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def request_restart() -> None:
        nonlocal restart
        restart = True
        stop.set()

    host.on_restart = request_restart
    await host.start()
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await host.stop()
    return restart
