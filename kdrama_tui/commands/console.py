"""``kdrama-tui console``: the dashboard alone, attached to a running server through the admin API."""

from __future__ import annotations

import argparse
import os

from kdrama_tui.commands.common import CommandError
from kdrama_tui.tui.client import DEFAULT_URL


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("console", help="the dashboard alone, attached to a running server "
                                            "(quitting leaves the server running)")
    parser.add_argument("--url", default=None,
                        help=f"the server's base URL (default KDRAMA_URL or {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None,
                        help="an admin's API key (default KDRAMA_API_KEY); without one, a sign-in screen asks")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from kdrama_tui.tui.app import KdramaApp
    from kdrama_tui.tui.client import AdminClient

    url = args.url or os.environ.get("KDRAMA_URL") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url must start with http:// or https:// (got {url!r})")
    api_key = args.api_key or os.environ.get("KDRAMA_API_KEY") or None
    app = KdramaApp(AdminClient(url, api_key=api_key))
    app.run()
    return int(app.return_code or 0)
