"""``kdrama-tui backup run|list|restore``.

These do not open the application's services: a restore must work on a database that no longer opens,
and a backup needs only a connection of its own. ``run`` and ``restore`` show their progress (the service's
``backup.progress`` events) and take ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kdrama_tui.commands.common import settings_from
from kdrama_tui.commands.progress import Progress, add_json_flag, following
from kdrama_tui.events import Event, EventBus
from kdrama_tui.services.backup.names import BACKUP_HOLDS
from kdrama_tui.services.backup.service import BackupService


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backup", help="back up, list and restore the database")
    actions = parser.add_subparsers(dest="action", required=True)

    run = actions.add_parser("run", help="make a local backup now (and an encrypted cloud copy with --cloud)")
    run.add_argument("--cloud", action="store_true", help="also upload an encrypted copy to backup.cloud_bucket")
    add_json_flag(run)
    run.set_defaults(handler=run_backup)

    listing = actions.add_parser("list", help="list local and cloud backups, newest first")
    listing.add_argument("--local", action="store_true", help="local backups only (no network)")
    listing.set_defaults(handler=list_backups)

    restore = actions.add_parser("restore", help="restore the database (and master key) from a backup")
    restore.add_argument("file", help="a backup file, or a name shown by `backup list` (local or cloud)")
    restore.add_argument("--force", action="store_true",
                         help="restore even though a server is serving this data folder")
    add_json_flag(restore)
    restore.set_defaults(handler=restore_backup)


def _service(args: argparse.Namespace) -> BackupService:
    return BackupService(settings_from(args), EventBus())


def _with_progress(args: argparse.Namespace, service: BackupService, name: str,
                   work: Callable[[], Awaitable[Any]]) -> tuple[Any, Progress]:
    """Run ``work`` while the service's backup.progress events feed a progress display."""
    progress = Progress(name, json_output=args.json)

    def show(event: Event) -> None:
        if event.type == "backup.progress":
            data = event.data
            progress.update(stage=data["stage"], done=data.get("done"), total=data.get("total"))

    async def main() -> Any:
        async with following(service.events, "backup.", show):
            return await work()

    with progress:
        result = asyncio.run(main())
    return result, progress


def run_backup(args: argparse.Namespace) -> int:
    service = _service(args)
    result, progress = _with_progress(args, service, "backup", lambda: service.run_backup(cloud=args.cloud))
    lines = [f"backup {result.local.name} ({result.local.size} bytes) in {service.backup_dir}"]
    if result.cloud:
        lines.append(f"uploaded {result.cloud.name} ({result.cloud.size} bytes, encrypted) to "
                     f"{service.settings.backup.cloud_bucket}")
    if result.pruned:
        lines.append(f"removed by retention: {', '.join(result.pruned)}")
    progress.result({**result.to_dict(), "path": str(service.backup_dir / result.local.name)}, lines)
    return 0


def list_backups(args: argparse.Namespace) -> int:
    service = _service(args)
    backups = asyncio.run(service.list_backups(cloud=not args.local))
    print(f"{'NAME':<48} {'WHERE':<6} {'KIND':<10} {'CREATED (UTC)':<20} SIZE")
    for b in backups:
        print(f"{b.name:<48} {b.location:<6} {b.kind:<10} {b.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} "
              f"{b.size}")
    if not backups:
        print("no backups yet")
    return 0


def restore_backup(args: argparse.Namespace) -> int:
    service = _service(args)
    result, progress = _with_progress(args, service, "restore",
                                      lambda: service.restore(args.file, force=args.force))
    lines = [f"restored the {result.dialect} database from {result.restored}"]
    if result.previous_copy:
        lines.append(f"the database it replaced is kept as {result.previous_copy} in {service.backup_dir}")
    if result.master_key_restored:
        lines.append(f"the backup's master key was restored to {service.settings.master_key_path}")
    lines.append(f"a backup holds the {', '.join(BACKUP_HOLDS['holds'])}, not the {BACKUP_HOLDS['not']}; the "
                 "next server start checks every ready video's files")
    progress.result(result.to_dict(), lines)
    return 0
