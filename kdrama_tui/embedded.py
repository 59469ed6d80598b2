"""The whole server running inside someone else's asyncio loop (the dashboard's, for ``kdrama-tui run``).

Nothing here knows about Textual: the dashboard calls :meth:`EmbeddedSystem.start` on mount and
:meth:`EmbeddedSystem.stop` on exit, then talks to the server like any attached console does, over HTTP on
loopback, with the process's in-memory local admin token instead of a password.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from kdrama_tui.config import Settings
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.server.keys import RESTART_HOOK
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.server_lock import hold_server_lock

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The system could not start; the message is one line for the terminal."""


@dataclass(frozen=True)
class Connection:
    base_url: str
    token: str


def loopback_host(host: str) -> str:
    """The address a local client dials for a server bound to ``host`` (wildcards mean loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class EmbeddedSystem:
    def __init__(self, settings: Settings, *, queue: bool = True, ingest: bool = True, schedules: bool = True
                 ) -> None:
        """``queue``/``ingest``/``schedules`` as for ``Services.start_background`` (tests turn parts off)."""
        self.settings = settings
        self.background = {"queue": queue, "ingest": ingest, "schedules": schedules}
        self.services: Services | None = None
        self.runner: web.AppRunner | None = None
        self.on_restart: Callable[[], None] | None = None  # the host's way to start again (after a restore)
        self._lock: hold_server_lock | None = None

    async def start(self) -> Connection:
        """Build the services, serve HTTP, start the ingester/queue/schedules; return how to reach it."""
        server = self.settings.server
        try:
            self.services = await build_services(self.settings)
            self._lock = hold_server_lock(self.settings).__enter__()  # `backup restore` sees a server here
            app = create_app(self.services)
            app[RESTART_HOOK] = self._restart
            try:
                self.runner = await start_http(app, server.host, server.port)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(f"cannot listen on {server.host}:{server.port}: address already in use "
                                       "(is another kdrama-tui running? set KDRAMA_SERVER_PORT)") from None
                raise StartupError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}") from None
            await self.services.start_background(**self.background)
        except BaseException:
            await self.stop()
            raise
        port = bound_port(self.runner)
        log.info("kdrama-tui serving on http://%s:%d (database %s)", server.host, port, self.services.db.dialect)
        return Connection(f"http://{loopback_host(server.host)}:{port}", self.services.local_admin_token)

    def _restart(self) -> None:
        if self.on_restart is not None:
            self.on_restart()

    async def stop(self) -> None:
        """Stop serving and close everything; safe to call twice or after a failed start."""
        runner, self.runner = self.runner, None
        services, self.services = self.services, None
        lock, self._lock = self._lock, None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            if services is not None:
                await services.close()
                log.info("kdrama-tui stopped")
            if lock is not None:
                lock.__exit__(None, None, None)
