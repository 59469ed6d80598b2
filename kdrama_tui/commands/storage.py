"""``kdrama-tui storage ...``: check the configured provider, move the library between providers, sweep orphans."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from kdrama_tui.commands.common import CommandError, run_with_services
from kdrama_tui.commands.progress import Progress, add_json_flag
from kdrama_tui.config import STORAGE_PROVIDERS
from kdrama_tui.services.container import Services
from kdrama_tui.services.maintenance.storage_migration import MigrationReport, StorageMigration


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("storage", help="check storage, move files between providers")
    actions = parser.add_subparsers(dest="action", required=True)

    check = actions.add_parser("check", help="check that the configured provider answers (credentials, bucket)")
    check.set_defaults(handler=check_storage)

    migrate = actions.add_parser(
        "migrate", help="copy every file to PROVIDER, verify it (size + SHA-256), switch its row, then delete "
                        "the source; safe to interrupt and run again")
    migrate.add_argument("--to", required=True, choices=STORAGE_PROVIDERS, dest="to")
    migrate.add_argument("--concurrency", type=int, default=4, help="files moved at once (default 4)")
    add_json_flag(migrate)
    migrate.set_defaults(handler=migrate_storage)

    sweep = actions.add_parser(
        "sweep", help="delete originals/ folders that no video references (left by a crash during a hand-off) "
                      "once older than storage.orphan_grace_hours")
    sweep.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    sweep.add_argument("--grace-hours", type=float, default=None, metavar="H",
                       help="delete unreferenced folders older than H hours instead of storage.orphan_grace_hours "
                            "(0: all of them; only when no upload or import is running)")
    sweep.add_argument("--force", action="store_true",
                       help="sweep even when most folders are unreferenced (the storage looks like another "
                            "database's)")
    sweep.set_defaults(handler=sweep_storage)


def check_storage(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> None:
        await svc.storage.check()
        print(f"storage {svc.storage.provider}: ok")

    return run_with_services(args, work)


def migrate_storage(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    progress = Progress("storage", json_output=args.json)

    def show(report: MigrationReport, done: int) -> None:
        progress.update(done=report.bytes_done, total=report.total_bytes, stage=f"files:{done}/{report.total}")

    async def work(svc: Services) -> int:
        migration = StorageMigration(svc.db, svc.events, svc.storage_for,
                                     state_file=svc.settings.data_dir / "storage-migration.json",
                                     known_providers=svc.storages.keys(), concurrency=args.concurrency,
                                     progress=show)
        with progress:
            report = await migration.run(args.to)
        lines = [f"moved to {args.to}: {report.copied} copied ({report.bytes_copied} bytes), {report.reused} "
                 f"already there, {report.switched} switched, {report.sources_deleted} source copies deleted"]
        if svc.settings.storage.provider != args.to:
            lines.append(f"note: new files still go to {svc.settings.storage.provider!r}; set storage.provider = "
                         f"{args.to!r} to store them on {args.to}")
        progress.result({**report.to_dict(), "ok": report.ok}, lines)
        if not report.ok:
            for row_id, key, why in report.failed[:20]:
                print(f"  not moved: video_files {row_id} {key}: {why}", file=sys.stderr)
            raise CommandError(f"{len(report.failed)} file(s) could not be moved (listed above); "
                               "they stay where they were; run the command again after fixing them")
        return 0

    return run_with_services(args, work)


def sweep_storage(args: argparse.Namespace) -> int:
    if args.grace_hours is not None and args.grace_hours < 0:
        raise CommandError("--grace-hours must be 0 or more")

    async def work(svc: Services) -> int:
        grace = None if args.grace_hours is None else timedelta(hours=args.grace_hours)
        report = await svc.orphans.sweep(dry_run=args.dry_run, force=args.force, grace=grace)
        if report.refused:
            raise CommandError(f"deleted nothing: {report.refused}")
        verb = "would remove" if report.dry_run else "removed"
        for found in report.removed:
            print(f"{verb} {found.provider} {found.prefix} ({found.files} files, {found.size} bytes, "
                  f"last written {found.modified.isoformat(timespec='seconds')})")
        hours = svc.settings.storage.orphan_grace_hours if args.grace_hours is None else args.grace_hours
        print(f"{verb} {report.folders} orphaned folder(s), {report.bytes} bytes; {len(report.too_recent)} "
              f"unreferenced folder(s) younger than {hours:g} h kept")
        if report.failed:
            for provider, prefix, why in report.failed[:20]:
                print(f"  not swept: {provider} {prefix}: {why}", file=sys.stderr)
            raise CommandError(f"{len(report.failed)} folder(s) or provider(s) could not be swept (listed above)")
        return 0

    return run_with_services(args, work)
