"""The one start-up and shut-down of the system, shared by ``serve``, ``run`` and ``worker``.

A :class:`Host` builds the services, takes the server lock (so ``backup restore`` sees a server on this data
folder), serves HTTP on an AppRunner inside whatever asyncio loop runs it (the dashboard's for ``run``), and
starts the background parts its :class:`Roles` ask for. ``serve`` and ``run`` use every role; ``worker``
uses none and runs the transcode queue in the foreground (a crash of its loop fails the command, so a
service manager restarts it). Nothing here knows about Textual: the dashboard
receives a started host through a small protocol of its own and talks to it over HTTP like any console.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from kdrama_tui.config import Settings
from kdrama_tui.errors import StartupError
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.server.keys import RESTART_HOOK
from kdrama_tui.services.backup.server_lock import hold_server_lock
from kdrama_tui.services.container import Services, build_services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """How a dashboard in this process reaches the admin API: loopback URL and the in-memory admin token."""

    base_url: str
    token: str


@dataclass(frozen=True)
class Roles:
    """What this process runs besides the services themselves."""

    http: bool = True  # the web server (and the server lock that goes with it)
    queue: bool = True  # the transcode queue
    ingest: bool = True  # the watch folders
    schedules: bool = True  # periodic sweeps and the backup schedule (one node of a cluster runs each)
    label: str = "serve"  # what this process is, in its database connections' application_name

    @classmethod
    def foreground(cls, label: str = "cli") -> Roles:
        """The services alone: the command runs its own loop in the foreground (``worker``, the CLI)."""
        return cls(http=False, queue=False, ingest=False, schedules=False, label=label)

    @property
    def needs_ffmpeg(self) -> bool:
        """A web node that neither transcodes nor imports can run on a machine without ffmpeg."""
        return self.queue or self.ingest or self.label != "serve"


def loopback_host(host: str) -> str:
    """The address a local client dials for a server bound to ``host`` (wildcards mean loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Host:
    def __init__(self, settings: Settings, roles: Roles | None = None) -> None:
        self.settings = settings
        self.roles = roles or Roles()
        self.services: Services | None = None
        self.runner: web.AppRunner | None = None
        self.on_restart: Callable[[], None] | None = None  # how the caller starts again (after a restore)
        self._lock: hold_server_lock | None = None

    async def start(self) -> Connection:
        """Build the services, serve HTTP, start the background parts; return how to reach the admin API
        (an empty base URL for a host without HTTP). Raises StartupError with a one-line reason."""
        roles, server = self.roles, self.settings.server
        try:
            self.services = await build_services(self.settings, role=roles.label,
                                                 need_ffmpeg=roles.needs_ffmpeg)
            if roles.http:
                self._lock = hold_server_lock(self.settings).__enter__()
                app = create_app(self.services)
                app[RESTART_HOOK] = self._restart
                self.runner = await self._listen(app)
            await self.services.start_background(web=roles.http, queue=roles.queue, ingest=roles.ingest,
                                                 schedules=roles.schedules)
        except BaseException:
            await self.stop()
            raise
        if self.runner is None:
            return Connection("", self.services.local_admin_token)
        port = bound_port(self.runner)
        off = [name for name, on in (("transcode", roles.queue), ("ingest", roles.ingest),
                                     ("background jobs", roles.schedules)) if not on]
        log.info("kdrama-tui serving on http://%s:%d (database %s, node %s%s)", server.host, port,
                 self.services.db.dialect, self.settings.node_name, f"; no {', no '.join(off)}" if off else "")
        return Connection(f"http://{loopback_host(server.host)}:{port}", self.services.local_admin_token)

    async def _listen(self, app: web.Application) -> web.AppRunner:
        server = self.settings.server
        try:
            return await start_http(app, server.host, server.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"cannot listen on {server.host}:{server.port}: address already in use "
                                   "(is another kdrama-tui running? set KDRAMA_SERVER_PORT)") from None
            raise StartupError(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}") from None

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
