"""``kdrama-tui migrate``: bring the database schema up to date."""

from __future__ import annotations

import argparse
import asyncio

from kdrama_tui.commands.common import settings_from
from kdrama_tui.db import open_database
from kdrama_tui.db.migrate import apply_migrations, available_migrations


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("migrate", help="bring the database schema up to date")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def main() -> list[str]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await open_database(settings.database_url, migrate=False)
        try:
            return await apply_migrations(db)
        finally:
            await db.close()

    applied = asyncio.run(main())
    latest = available_migrations()[-1].version
    print(f"applied {', '.join(applied)}; schema at {latest}" if applied else f"schema already at {latest}")
    return 0
