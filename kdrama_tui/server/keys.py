"""Typed keys for what the application carries."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.services.container import Services

SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
