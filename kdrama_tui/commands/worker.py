"""``kdrama-tui worker``: a transcode worker alone, sharing the database and storage with the server.

Run as many as the machines allow: jobs are claimed atomically with a lease, so each runs once, and a worker
that dies loses its job to another after ``transcode.lease_seconds``. SIGTERM/SIGINT stop ffmpeg and hand the
running job straight back to the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from kdrama_tui.commands.common import settings_from
from kdrama_tui.server.host import Host, Roles

log = logging.getLogger("kdrama_tui")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("worker", help="run a transcode worker alone (scale-out)")
    parser.add_argument("--once", action="store_true", help="process the jobs that are due, then exit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(work(Host(settings_from(args), Roles.foreground("worker")), once=args.once))
    return 0


async def work(host: Host, *, once: bool) -> None:
    await host.start()
    try:
        assert host.services is not None
        svc = host.services
        queue = svc.media.queue
        if once:
            count = await queue.run_until_idle()
            print(f"processed {count} job(s)")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        svc.follow_cluster()  # woken by the web nodes' job.queued, not only by its poll
        log.info("transcode worker %s started (database %s, concurrency %d)", queue.worker_id, svc.db.dialect,
                 svc.settings.transcode.concurrency)
        runner = asyncio.create_task(queue.run(), name="media.queue")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        runner.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner  # re-raises a crash of the queue loop, which fails the command
        log.info("transcode worker %s stopped", queue.worker_id)
    finally:
        await host.stop()
