"""``kdrama-tui apikey ...``: keys for VIP uploaders."""

from __future__ import annotations

import argparse

from kdrama_tui.commands.common import run_with_services
from kdrama_tui.services.container import Services


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("apikey", help="issue, list and revoke API keys")
    actions = parser.add_subparsers(dest="action", required=True)

    issue = actions.add_parser("issue", help="issue a key; it is printed once, on the last line")
    issue.add_argument("--user", required=True, help="username or email of the key's owner")
    issue.add_argument("--name", default="", help="a label to tell keys apart")
    issue.add_argument("--expires-days", type=float, default=None)
    issue.set_defaults(handler=issue_key)

    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--user", default=None)
    listing.set_defaults(handler=list_keys)

    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=revoke_key)


def issue_key(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        user = await svc.accounts.find_user(args.user)
        plaintext, key = await svc.accounts.issue_api_key(user.id, args.name, args.expires_days)
        expiry = key.expires_at.strftime("%Y-%m-%d %H:%M UTC") if key.expires_at else "never"
        print(f"API key {key.id} for {user.username} (expires {expiry}); store it now, it is not shown again:")
        print(plaintext)

    return run_with_services(args, work)


def list_keys(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        user_id = (await svc.accounts.find_user(args.user)).id if args.user else None
        users = {u.id: u.username for u in await svc.accounts.list_users()}
        print(f"{'ID':>4}  {'USER':<16} {'PREFIX':<12} {'NAME':<16} {'STATE':<8} {'EXPIRES':<16} LAST USED")
        for key in await svc.accounts.list_api_keys(user_id):
            state = "active" if key.is_active else "revoked"
            expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "never"
            used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-"
            print(f"{key.id:>4}  {users.get(key.user_id, '?'):<16} {key.key_prefix:<12} {key.name[:16]:<16} "
                  f"{state:<8} {expires:<16} {used}")

    return run_with_services(args, work)


def revoke_key(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        key = await svc.accounts.revoke_api_key(args.id)
        print(f"revoked API key {key.id}")

    return run_with_services(args, work)
