"""``kdrama-tui ingest PATH...``: import files once, as the watch folder would.

Folders are walked recursively with the watch folder's rules (partial and hidden names, symlinks, FIFOs
and ``failed/`` are left alone). A folder's own name counts as a show folder (``ingest "Goblin (2016)"``).
Files are moved into storage like the watch folder does, or copied with ``--copy``. A refused file that
lies inside a watch folder moves to that folder's ``failed/`` with its reason, as the watcher would;
elsewhere it is left where it is. A file another process still holds open for writing is not taken.

A subtitle file given on its own (``ingest Show.S01E03.en.srt``) is attached to the ready video imported
earlier from its folder under the same name, as the watch folder does with a late subtitle.

Progress (bytes read of all the files found, see ``commands/progress.py``) is a bar on a terminal and
``progress ingest ...`` lines otherwise; ``--json`` prints every file's outcome as JSON instead of the
``ingested ...`` lines.

Exit status: 0 when every file is in the library afterwards (imported now, or already there), 1 when any
file was refused or nothing was found.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

from kdrama_tui.commands.common import CommandError, run_with_services
from kdrama_tui.commands.progress import Progress, add_json_flag
from kdrama_tui.services.container import Services
from kdrama_tui.services.ingest.importer import FAILED_DIR, IngestOutcome
from kdrama_tui.services.ingest.late_subtitles import LateOutcome
from kdrama_tui.services.ingest.openfiles import open_writers
from kdrama_tui.services.ingest.sidecars import is_sidecar_name
from kdrama_tui.services.ingest.tracking import is_partial_name


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="import video files or folders once, as the watch folder would")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files or folders (recursive)")
    parser.add_argument("--copy", action="store_true", help="copy the files into storage and leave them in place")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def _candidates(path: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(file, root its name is read from) pairs under ``path``, and what was left alone and why."""
    problems: list[str] = []
    try:
        st = path.lstat()
    except OSError as exc:
        return [], [f"{path}: {exc.strerror or exc}"]
    if stat.S_ISLNK(st.st_mode):
        return [], [f"{path}: is a symlink; give the file it points to"]
    if stat.S_ISREG(st.st_mode):
        return [(path, path.parent.parent)], []
    if not stat.S_ISDIR(st.st_mode):
        return [], [f"{path}: not a regular file (FIFO, device or socket); never read"]
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not is_partial_name(d) and d != FAILED_DIR
                             and not (here / d).is_symlink())
        for name in sorted(filenames):
            file = here / name
            if is_partial_name(name) or is_sidecar_name(name):
                continue
            if not file.is_file() or file.is_symlink():
                problems.append(f"{file}: not a regular file; skipped")
                continue
            found.append((file, path.parent))
    return found, problems


def _describe(outcome: IngestOutcome) -> str:
    if outcome.status == "ingested":
        return (f"ingested   {outcome.path} -> video {outcome.video_id} \"{outcome.title}\" "
                f"(job {outcome.job_id} queued)")
    if outcome.status == "already_ingested":
        return f"already in {outcome.path} (video {outcome.video_id}, imported from here before)"
    if outcome.status == "duplicate":
        return f"duplicate  {outcome.path}: {outcome.reason}" + (
            f" (moved to {outcome.moved_to})" if outcome.moved_to else "")
    return f"failed     {outcome.path}: {outcome.reason}" + (
        f" (moved to {outcome.moved_to})" if outcome.moved_to else "")


def _describe_subtitle(path: Path, outcome: LateOutcome) -> str:
    if outcome.status == "attached":
        return f"attached   {path} -> video {outcome.video_id} (subtitle track)"
    if outcome.status == "already_attached":
        return f"already in {path} (video {outcome.video_id}, attached before)"
    if outcome.status == "waiting":
        return f"waiting    {path}: {outcome.reason}; run this again once it plays"
    return f"failed     {path}: {outcome.reason}" + (f" (moved to {outcome.moved_to})" if outcome.moved_to else "")


def _lone_subtitle(path: Path) -> bool:
    return is_sidecar_name(path.name) and path.is_file() and not path.is_symlink()


def _outcome_dict(path: Path, status: str, **fields: Any) -> dict[str, Any]:
    return {"path": str(path), "status": status, **{k: (str(v) if isinstance(v, Path) else v)
                                                     for k, v in fields.items() if v is not None}}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def run(args: argparse.Namespace) -> int:
    # Each file's outcome is printed below; the services' own warnings would only repeat it.
    logging.getLogger("kdrama_tui").setLevel(logging.ERROR)
    progress = Progress("ingest", json_output=args.json)
    results: list[dict[str, Any]] = []

    def refuse(path: Path | str, reason: str, failures: list[str], name: str) -> None:
        progress.echo(f"failed     {path}: {reason}")
        results.append(_outcome_dict(Path(path), "failed", reason=reason))
        failures.append(f"{name}: {reason}")

    async def work(svc: Services) -> int:
        watch_roots = [p.resolve() for p in svc.settings.watch_dirs]
        failures: list[str] = []
        imported = 0
        # Everything is listed first, so the bar knows the bytes to read.
        plan: list[tuple[str, Any]] = []
        for given in args.paths:
            if _lone_subtitle(Path(given)):
                plan.append(("subtitle", Path(given).absolute()))
                continue
            files, problems = _candidates(Path(given).absolute())
            plan.extend(("problem", p) for p in problems)
            if not files and not problems:
                failures.append(f"{given}: no video files in it")
            plan.extend(("file", f) for f in files)
        videos = [item for kind, item in plan if kind == "file"]
        total = sum(_size(file) for file, _root in videos)
        done, count = 0, 0
        progress.update(done=0, total=total, stage=f"files:0/{len(videos)}")
        for kind, item in plan:
            if kind == "problem":
                progress.echo(f"failed     {item}")
                results.append({"path": item.split(": ", 1)[0], "status": "failed",
                                "reason": item.split(": ", 1)[-1]})
                failures.append(item)
                continue
            if kind == "subtitle":
                path = item
                watch_root = next((r for r in watch_roots if path.resolve().is_relative_to(r)), None)
                late = await svc.ingester.late.handle(
                    path.resolve() if watch_root else path, None if args.copy else watch_root,
                    waited=float("inf"), keep=args.copy)
                progress.echo(_describe_subtitle(path, late))
                results.append(_outcome_dict(path, late.status, video_id=late.video_id, reason=late.reason,
                                             moved_to=late.moved_to))
                if late.status in ("attached", "already_attached"):
                    imported += 1
                else:
                    failures.append(f"{path.name}: {late.reason}")
                continue
            file, name_root = item
            size = _size(file)
            count += 1
            progress.update(done=done, total=total, stage=f"files:{count}/{len(videos)}")
            resolved = file.resolve()
            watch_root = next((r for r in watch_roots if resolved.is_relative_to(r)), None)
            if watch_root is not None and resolved.is_relative_to(watch_root / FAILED_DIR):
                refuse(file, f"in {FAILED_DIR}/, which is never imported; move it back into the watch folder",
                       failures, file.name)
            elif writers := await asyncio.to_thread(open_writers, file):
                refuse(file, "still open for writing by " + ", ".join(map(str, writers)), failures, file.name)
            else:
                outcome = await svc.ingester.importer.import_file(
                    resolved if watch_root else file, root=watch_root or name_root,
                    failed_root=watch_root if not args.copy else None, move=not args.copy,
                    on_bytes=lambda n, base=done: progress.update(done=base + n))
                progress.echo(_describe(outcome))
                results.append(_outcome_dict(file, outcome.status, video_id=outcome.video_id,
                                             job_id=outcome.job_id, title=outcome.title, reason=outcome.reason,
                                             moved_to=outcome.moved_to))
                if outcome.ok:
                    imported += 1
                else:
                    reason = outcome.reason or outcome.status
                    failures.append(reason if reason.startswith(file.name) else f"{file.name}: {reason}")
            done += size
            progress.update(done=done)
        progress.close()
        progress.result({"ok": not failures and imported > 0, "imported": imported, "files": results,
                         "errors": failures})
        if failures:
            head = failures[0] if len(failures) == 1 else f"{len(failures)} files not imported; first: {failures[0]}"
            raise CommandError(head)
        if imported == 0:
            raise CommandError("no video files found")
        return 0

    with progress:
        return run_with_services(args, work)
