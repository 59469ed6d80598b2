"""Typed keys for what the application carries."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from kdrama_tui.services.container import Services

SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
# Set by the process that hosts the app (serve, run): asks it to restart, e.g. after a restore.
RESTART_HOOK = web.AppKey("restart_hook", Callable[[], None])
