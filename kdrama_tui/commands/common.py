"""What every command needs: settings, the services, and one-line failures."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.server.host import Host, Roles
from kdrama_tui.services.container import Services


class CommandError(Exception):
    """A failure to report as one line on stderr."""


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


@asynccontextmanager
async def open_services(args: argparse.Namespace) -> AsyncIterator[Services]:
    """The services for a one-shot command, built by the same host as ``serve``'s (nothing in background)."""
    host = Host(settings_from(args), Roles.foreground())
    await host.start()
    try:
        assert host.services is not None
        yield host.services
    finally:
        await host.stop()


def run_with_services(args: argparse.Namespace, work: Callable[[Services], Awaitable[Any]]) -> int:
    async def main() -> Any:
        async with open_services(args) as svc:
            return await work(svc)

    result = asyncio.run(main())
    return result if isinstance(result, int) else 0


def read_secret(prompt: str, from_stdin: bool) -> str:
    """A password from stdin (``--password-stdin``, one line) or asked twice at the terminal."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise CommandError("no password given on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ")
    return first
