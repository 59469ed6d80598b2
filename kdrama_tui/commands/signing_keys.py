"""``kdrama-tui signing-key rotate``: new JWT signing key pairs.

Rotating ends every access token the old pair signed (clients refresh; refresh tokens stay valid). With
``--all`` it is also the way back after the master key was lost: old pairs are replaced without being
decrypted, and this node's master key becomes the one every node of the cluster must have.
"""

from __future__ import annotations

import argparse

from kdrama_tui.commands.common import CommandError, run_with_services
from kdrama_tui.services.container import Services


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("signing-key", help="rotate the key pairs that sign access tokens")
    actions = parser.add_subparsers(dest="action", required=True)
    rotate = actions.add_parser("rotate", help="replace a user's key pair, or everyone's")
    who = rotate.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="username or email")
    who.add_argument("--all", action="store_true", help="every stored key pair")
    rotate.set_defaults(handler=rotate_keys)


def rotate_keys(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        if args.all:
            count = await svc.tokens.keys.rotate_all()
            await svc.cluster_secrets.adopt_master_key()  # this node's key is the cluster's from now on
            print(f"rotated {count} signing key pair{'s' if count != 1 else ''}; access tokens they signed no "
                  "longer work")
            return
        user = await svc.accounts.find_user(args.user)
        if not user.is_active:
            raise CommandError(f"{user.username} is deactivated; it cannot sign tokens")
        key = await svc.tokens.keys.rotate(user.id)
        print(f"rotated the signing key of {user.username} (new key id {key.id})")

    return run_with_services(args, work)
