"""The whole server running inside someone else's asyncio loop (the dashboard's, for ``kdrama-tui run``).

Nothing here knows about Textual: the dashboard calls :meth:`EmbeddedSystem.start` on mount and
:meth:`EmbeddedSystem.stop` on exit, then talks to the server like any attached console does, over HTTP on
loopback, with the process's in-memory local admin token instead of a password.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass

from aiohttp import web

from kdrama_tui.config import Settings
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.services.container import Services, build_services

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
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.runner: web.AppRunner | None = None

    async def start(self) -> Connection:
        """Build the services, serve HTTP, start the ingester/queue/schedules; return how to reach it."""
        server = self.settings.server
        try:
            self.services = await build_services(self.settings)
            try:
                self.runner = await start_http(create_app(self.services), server.host, server.port)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(f"cannot listen on {server.host}:{server.port}: address already in use "
                                       "(is another kdrama-tui running? set KDRAMA_SERVER_PORT)") from None
                raise StartupError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}") from None
            await self.services.start_background()
        except BaseException:
            await self.stop()
            raise
        port = bound_port(self.runner)
        log.info("kdrama-tui serving on http://%s:%d (database %s)", server.host, port, self.services.db.dialect)
        return Connection(f"http://{loopback_host(server.host)}:{port}", self.services.local_admin_token)

    async def stop(self) -> None:
        """Stop serving and close everything; safe to call twice or after a failed start."""
        runner, self.runner = self.runner, None
        services, self.services = self.services, None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            if services is not None:
                await services.close()
                log.info("kdrama-tui stopped")
