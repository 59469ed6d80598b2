"""``kdrama-tui run`` (the default): server, ingester, transcode queue and the dashboard in one process."""

from __future__ import annotations

import argparse
import asyncio
import signal

from kdrama_tui.commands.common import CommandError, settings_from
from kdrama_tui.commands.serve import restart_in_place
from kdrama_tui.logbuffer import configure_logging
from kdrama_tui.server.host import Host


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run everything, with the dashboard in this terminal (default)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # a bad setting stops here, before the screen is taken over
    # Textual is imported only by the commands that draw, so `serve` and the CLI never load it.
    from kdrama_tui.tui.app import KdramaApp

    configure_logging(to_stderr=False)  # log records go to the dashboard's Logs section, not the terminal
    host = Host(settings)
    app = KdramaApp(system=host)  # the dashboard starts the host in its own loop, on mount

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # A service manager's SIGTERM, or the SSH session going away (SIGHUP): stop as `q` does, so the
        # server closes its connections and the database cleanly instead of dying mid-write.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, app.exit)
        try:
            await app.run_async()
        finally:
            await host.stop()  # no-op when the app already stopped it on exit

    asyncio.run(main())
    if app.restart_requested:  # a restore replaced the database: start over, terminal and all
        restart_in_place()
    if app.startup_error:
        raise CommandError(app.startup_error)
    return int(app.return_code or 0)
