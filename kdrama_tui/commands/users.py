"""``kdrama-tui user ...``: account administration."""

from __future__ import annotations

import argparse

from kdrama_tui.commands.common import read_secret, run_with_services
from kdrama_tui.services.container import Services


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("user", help="create and manage accounts")
    actions = parser.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=["admin", "user"], default="user")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.set_defaults(handler=create_user)

    actions.add_parser("list", help="list accounts").set_defaults(handler=list_users)

    deactivate = actions.add_parser("deactivate", help="deactivate an account (logs it out everywhere)")
    deactivate.add_argument("username")
    deactivate.set_defaults(handler=deactivate_user)

    set_password = actions.add_parser("set-password", help="set a new password (logs out everywhere)")
    set_password.add_argument("username")
    set_password.add_argument("--password-stdin", action="store_true")
    set_password.set_defaults(handler=set_user_password)


def create_user(args: argparse.Namespace) -> int:
    password = read_secret(f"password for {args.username}: ", args.password_stdin)

    async def work(svc: Services) -> None:
        user = await svc.accounts.create_user(args.username, args.email, password, args.role)
        print(f"created {user.role} {user.username} (id {user.id})")

    return run_with_services(args, work)


def list_users(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        print(f"{'ID':>4}  {'USERNAME':<20} {'EMAIL':<30} {'ROLE':<6} {'ACTIVE':<6} LAST LOGIN")
        for user in await svc.accounts.list_users():
            last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
            print(f"{user.id:>4}  {user.username:<20} {user.email:<30} {user.role:<6} "
                  f"{'yes' if user.is_active else 'no':<6} {last}")

    return run_with_services(args, work)


def deactivate_user(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        user = await svc.accounts.find_user(args.username)
        await svc.accounts.set_active(user.id, False)
        print(f"deactivated {user.username}")

    return run_with_services(args, work)


def set_user_password(args: argparse.Namespace) -> int:
    password = read_secret(f"new password for {args.username}: ", args.password_stdin)

    async def work(svc: Services) -> None:
        user = await svc.accounts.find_user(args.username)
        await svc.accounts.set_password(user.id, password)
        print(f"password changed for {user.username}; its sessions were logged out")

    return run_with_services(args, work)
