"""``kdrama-tui playback-key rotate``: revoke every playback link of private videos, on every node.

The playback key is derived from the master key and a salt in the database; a new salt takes effect on
every running node within a couple of seconds, so every link issued before it (by any node) stops playing.
Owners fetch new links from ``GET /api/videos/<id>/playback`` as usual.
"""

from __future__ import annotations

import argparse

from kdrama_tui.commands.common import run_with_services
from kdrama_tui.services.container import PLAYBACK_KEY_POLL_SECONDS, Services


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("playback-key", help="rotate the key that signs playback links of private videos")
    actions = parser.add_subparsers(dest="action", required=True)
    rotate = actions.add_parser("rotate", help="revoke every playback link, on every node")
    rotate.set_defaults(handler=rotate_key)


def rotate_key(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        await svc.cluster_secrets.check_master_key()  # a key derived from the wrong master key helps nobody
        await svc.cluster_secrets.rotate_playback_key()
        print(f"rotated the playback key: every playback link issued before now stops working on every node "
              f"within {PLAYBACK_KEY_POLL_SECONDS:g} s")

    return run_with_services(args, work)
