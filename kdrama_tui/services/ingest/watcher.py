"""The watch folders: notice dropped files, wait until each is complete, hand it to the importer.

A file is complete when (1) its size, mtime and inode have not changed for ``ingest.quiet_seconds`` of our
own observation (a file moved in with an old mtime still waits that long) and (2) no process holds it
open for writing (``/proc``; see :mod:`kdrama_tui.services.ingest.openfiles` for why not a lock). Its sidecars
must be quiet too. Partial names (``.part``, ``.crdownload``, ``.tmp``...) and hidden files and folders
(rsync's ``.name.XXXXXX`` temp files) are ignored until renamed; symlinks, FIFOs, devices and sockets are
logged once and never opened; ``failed/`` is never looked into.

watchfiles (inotify) events only say "look here"; a full walk at start-up and every
``ingest.rescan_seconds`` is the authority, so files present before start, and changes a watcher missed
(inotify queue overflow, a network mount), are still found. Nothing is remembered in memory that
matters across restarts: a file still in the folder after a restart is simply checked again, and the
database decides whether its content is already in the library.

Subtitles that arrive after their video: :mod:`kdrama_tui.services.ingest.late_subtitles`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from pathlib import Path

from watchfiles import Change, awatch

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.services.accounts.service import AccountService
from kdrama_tui.services.ingest.importer import (
    FAILED_DIR,
    FileImporter,
    IngestFailure,
    IngestOutcome,
    _Changed,
    _Skip,
)
from kdrama_tui.services.ingest.late_subtitles import LateSubtitles, is_subtitle_name
from kdrama_tui.services.ingest.openfiles import open_writers
from kdrama_tui.services.ingest.sidecars import find_sidecars, is_sidecar_name, sidecar_tags
from kdrama_tui.services.ingest.tracking import Signature, Tracked, identity, is_partial_name, signature_of
from kdrama_tui.services.library.handoff import Library
from kdrama_tui.services.transcoding.tracks import SubtitleTracks

log = logging.getLogger(__name__)

WAITING_EVENT_INTERVAL = 1.0
RETRY_SECONDS = 30.0  # after an error that is not the file's fault


class Ingester:
    """Watches ``settings.watch_dirs``; ``run()`` until cancelled or ``stop()``."""

    def __init__(self, settings: Settings, db: Database, library: Library, accounts: AccountService,
                 events: EventBus, binaries: Binaries, tracks: SubtitleTracks) -> None:
        self.settings = settings
        self.events = events
        self.importer = FileImporter(settings, db, library, accounts, events, binaries)
        # The media service's tracks, so an API upload and the folder never rewrite one master playlist at
        # once (it serialises per video).
        self.late = LateSubtitles(db, events, tracks, settings.ingest.late_subtitle_timeout_seconds)
        self.quiet = settings.ingest.quiet_seconds
        self.tick = min(1.0, max(0.1, self.quiet / 4))
        # A lone subtitle looks for its video this often (a query; its video may come through another
        # process, e.g. `kdrama-tui ingest`, or finish transcoding).
        self.lookup_seconds = max(self.tick, min(5.0, self.late.timeout / 5))
        self.roots: list[Path] = []
        self._tracked: dict[Path, Tracked] = {}
        self._given_up: dict[Path, Signature] = {}  # could not even be moved to failed/: wait for a change
        self._skipped: dict[Path, Signature] = {}  # logged once
        self._stop = asyncio.Event()
        self._last_scan = 0.0
        self.ready = asyncio.Event()  # set once the start-up scan is done (tests, demo)
        self._started = False

    # ---- life cycle --------------------------------------------------------------------------------
    def prepare(self) -> list[Path]:
        """Create the watch folders and their failed/ folders; return them resolved."""
        roots = []
        for folder in self.settings.watch_dirs:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / FAILED_DIR).mkdir(exist_ok=True)
            roots.append(folder.resolve())
        self.roots = roots
        return roots

    def stop(self) -> None:
        self._stop.set()

    @property
    def started(self) -> bool:
        return self._started

    async def run(self) -> None:
        self._started = True
        logging.getLogger("watchfiles.main").setLevel(logging.WARNING)  # it logs every batch of changes at INFO
        roots = self.prepare()
        log.info("watching %s (quiet period %.1f s)", ", ".join(map(str, roots)), self.quiet)
        await self.scan()
        self.ready.set()
        polling = self.settings.ingest.force_polling
        failures = 0
        while not self._stop.is_set():
            try:
                identities = [identity(root) for root in roots]
                watching = False
                async for changes in awatch(
                        *roots, watch_filter=self._wanted, debounce=int(self.tick * 1000),
                        rust_timeout=int(self.tick * 1000), yield_on_timeout=True, stop_event=self._stop,
                        force_polling=polling or None, poll_delay_ms=int(self.tick * 1000), recursive=True,
                        ignore_permission_denied=True):
                    failures = 0
                    if not watching:
                        # The kernel watch exists once the first batch (or timeout) arrives; files created
                        # between the last walk and that moment sent no event, so walk once more.
                        watching = True
                        await self.scan()
                    for change, raw in changes:
                        if change != Change.deleted:
                            await self._note(Path(raw))
                    await self.check()
                    if time.monotonic() - self._last_scan >= self.settings.ingest.rescan_seconds:
                        await self.scan()
                    if [identity(root) for root in roots] != identities:
                        # A watch folder was deleted, replaced or unmounted: the kernel's watch on it is
                        # gone and no event would ever come again. Recreate it and watch afresh.
                        log.warning("a watch folder was removed or replaced; watching it again")
                        break
            except Exception:
                failures += 1
                if failures >= 2 and not polling:  # e.g. fs.inotify.max_user_watches exhausted
                    polling = True
                    log.warning("file system events are failing; polling the watch folders instead")
                log.exception("watching %s failed; retrying in 5 s", ", ".join(map(str, roots)))
                await asyncio.sleep(5)
            if not self._stop.is_set():
                with contextlib.suppress(OSError):
                    roots = self.prepare()
                await self.scan()

    # ---- discovery ---------------------------------------------------------------------------------
    def _root_of(self, path: Path) -> Path | None:
        return next((r for r in self.roots if path.is_relative_to(r)), None)

    def _excluded(self, path: Path, root: Path) -> bool:
        relative = path.relative_to(root).parts
        return (not relative or relative[0] == FAILED_DIR
                or any(is_partial_name(part) for part in relative[:-1])
                or (relative[-1].startswith(".")))

    def _wanted(self, change: Change, raw: str) -> bool:
        path = Path(raw)
        root = self._root_of(path)
        return root is not None and not self._excluded(path, root) and not is_partial_name(path.name)

    async def _note(self, path: Path) -> None:
        root = self._root_of(path)
        if root is None or self._excluded(path, root):
            return
        try:
            st = path.lstat()
        except OSError:
            self._tracked.pop(path, None)
            return
        if stat.S_ISDIR(st.st_mode):
            await self._scan_folder(path, root)  # a season folder copied in: its files may predate the watch
        else:
            self._track(path, root, st)

    async def scan(self) -> None:
        """Walk every watch folder (start-up, and periodically as a safety net for missed events)."""
        self._last_scan = time.monotonic()
        for root in self.roots:
            await self._scan_folder(root, root)
        for memory in (self._tracked, self._given_up, self._skipped):
            for path in [p for p in memory if not os.path.lexists(p)]:
                del memory[path]

    async def _scan_folder(self, folder: Path, root: Path) -> None:
        def walk() -> list[tuple[Path, os.stat_result]]:
            found = []
            for dirpath, dirnames, filenames in os.walk(folder):  # never follows symlinked folders
                here = Path(dirpath)
                dirnames[:] = [d for d in dirnames if not is_partial_name(d)
                               and not (here == root and d == FAILED_DIR)]
                for name in [d for d in dirnames if (here / d).is_symlink()]:
                    found.append((here / name, (here / name).lstat()))  # reported as skipped, not entered
                for name in filenames:
                    with contextlib.suppress(OSError):
                        found.append((here / name, (here / name).lstat()))
            return found

        for path, st in await asyncio.to_thread(walk):
            if not self._excluded(path, root):
                self._track(path, root, st)

    def _track(self, path: Path, root: Path, st: os.stat_result) -> None:
        if is_partial_name(path.name):
            return
        signature = signature_of(st)
        if not stat.S_ISREG(st.st_mode) or os.path.realpath(path) != str(path):
            self._tracked.pop(path, None)
            if self._skipped.get(path) != signature:
                self._skipped[path] = signature
                log.warning("skipped %s: %s; it is never read", path, self._describe_special(path, st, root))
            return
        if path in self._tracked:
            return  # check() follows its changes
        sidecar = is_sidecar_name(path.name)
        self._tracked[path] = Tracked(root, signature, time.monotonic(), sidecar)
        if not sidecar and self._given_up.get(path) != signature:
            self.events.publish("ingest.seen", path=str(path), name=path.name, size=st.st_size)

    @staticmethod
    def _describe_special(path: Path, st: os.stat_result, root: Path) -> str:
        if stat.S_ISLNK(st.st_mode):
            target = Path(os.path.realpath(path))
            where = "inside the folder" if target.is_relative_to(root) else "outside the watch folder"
            return f"symlink to {target} ({where})"
        if stat.S_ISFIFO(st.st_mode):
            return "a FIFO (named pipe)"
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            return "a device"
        if stat.S_ISSOCK(st.st_mode):
            return "a socket"
        if stat.S_ISREG(st.st_mode):
            return "reached through a symlinked folder"
        return "not a regular file"

    # ---- completeness ------------------------------------------------------------------------------
    def _waiting(self, path: Path, tracked: Tracked, reason: str, now: float) -> None:
        if tracked.sidecar:
            return
        if reason != tracked.waiting_reason or now - tracked.last_waiting >= WAITING_EVENT_INTERVAL:
            tracked.waiting_reason, tracked.last_waiting = reason, now
            self.events.publish("ingest.waiting", path=str(path), name=path.name, size=tracked.signature[0],
                                reason=reason)

    def _refresh(self, path: Path, tracked: Tracked, now: float) -> bool:
        """Update the observation; False when the file is gone or no longer a plain file."""
        try:
            st = path.lstat()
        except OSError:
            self._tracked.pop(path, None)
            return False
        if not stat.S_ISREG(st.st_mode):
            self._tracked.pop(path, None)
            self._track(path, tracked.root, st)
            return False
        signature = signature_of(st)
        if signature != tracked.signature:
            tracked.signature, tracked.stable_since = signature, now
        return True

    async def _quiet_and_closed(self, path: Path, tracked: Tracked, now: float) -> bool:
        if now - tracked.stable_since < self.quiet:
            self._waiting(path, tracked, "still changing or within the quiet period", now)
            return False
        writers = await asyncio.to_thread(open_writers, path)
        if writers:
            tracked.stable_since = now  # the quiet period starts again once the writer closes it
            self._waiting(path, tracked, "open for writing by " + ", ".join(map(str, writers)), now)
            return False
        return True

    async def check(self) -> None:
        """Import every tracked video that is complete, together with its sidecars."""
        for path in list(self._tracked):
            if self._stop.is_set():
                return
            tracked = self._tracked.get(path)
            now = time.monotonic()
            if tracked is None or not self._refresh(path, tracked, now):
                continue
            if tracked.sidecar:
                if is_subtitle_name(path.name):
                    await self._check_lone_subtitle(path, tracked, now)
                continue
            if self._given_up.get(path) == tracked.signature or now < tracked.retry_at:
                continue
            if not await self._quiet_and_closed(path, tracked, now):
                continue
            sidecars = find_sidecars(path)
            if not await self._sidecars_ready(path, tracked, sidecars.paths, now):
                continue
            try:
                outcome = await self.importer.import_file(path, root=tracked.root, failed_root=tracked.root)
            except Exception as exc:
                self._retry_later(path, tracked, exc, "importing")
                continue
            self._settle(path, tracked, outcome, sidecars.paths)

    def _retry_later(self, path: Path, tracked: Tracked, exc: Exception, doing: str) -> None:
        """Not the file's fault (database unreachable, disk full...): keep it where it is, try again later,
        and let the other files go on."""
        log.exception("%s %s failed; retrying in %.0f s", doing, path, RETRY_SECONDS)
        self.events.publish("ingest.failed", path=str(path), name=path.name, moved_to=None,
                            reason=f"{exc.__class__.__name__}: {exc}; retrying in {RETRY_SECONDS:.0f} s")
        tracked.retry_at = time.monotonic() + RETRY_SECONDS

    async def _check_lone_subtitle(self, path: Path, tracked: Tracked, now: float) -> None:
        if self._given_up.get(path) == tracked.signature or now < max(tracked.retry_at, tracked.next_lookup):
            return
        if not await self._quiet_and_closed(path, tracked, now):
            return
        if self._claimed(path):
            tracked.lone_since = None  # its video is here: it goes with it when that is imported
            return
        tracked.next_lookup = now + self.lookup_seconds
        if tracked.lone_since is None:
            tracked.lone_since = now
        try:
            outcome = await self.late.handle(path, tracked.root, waited=now - tracked.lone_since)
        except _Skip as exc:
            log.warning("skipped %s: %s (never read)", path, exc)
            self._given_up[path] = tracked.signature
            return
        except _Changed:
            tracked.stable_since = time.monotonic()
            return
        except IngestFailure as exc:
            outcome = await self.late.fail(path, tracked.root, str(exc))
        except Exception as exc:
            self._retry_later(path, tracked, exc, "attaching subtitle")
            return
        if outcome.status == "waiting":
            if outcome.reason != tracked.waiting_reason:  # once per reason: it may wait for hours
                tracked.waiting_reason = outcome.reason
                self.events.publish("ingest.waiting", path=str(path), name=path.name,
                                    size=tracked.signature[0], reason=outcome.reason)
        elif outcome.status == "failed" and outcome.moved_to is None:
            self._given_up[path] = tracked.signature
        else:
            self._tracked.pop(path, None)
            self._given_up.pop(path, None)

    def _claimed(self, subtitle: Path) -> bool:
        """Whether a file beside the subtitle would take it as a sidecar when that file is imported."""
        try:
            names = os.listdir(subtitle.parent)
        except OSError:
            return False
        return any(not is_sidecar_name(name) and not is_partial_name(name)
                   and sidecar_tags(Path(name).stem, subtitle.name) is not None
                   and (subtitle.parent / name).is_file() for name in names)

    async def _sidecars_ready(self, video: Path, tracked: Tracked, sidecars: list[Path], now: float) -> bool:
        for sidecar in sidecars:
            entry = self._tracked.get(sidecar)
            if entry is None:
                await self._note(sidecar)  # appeared after the last event batch: observe it first
                entry = self._tracked.get(sidecar)
                if entry is not None:
                    self._waiting(video, tracked, f"waiting for {sidecar.name} to be complete", now)
                    return False
                continue
            if not self._refresh(sidecar, entry, now) or not await self._quiet_and_closed(sidecar, entry, now):
                self._waiting(video, tracked, f"waiting for {sidecar.name} to be complete", now)
                return False
        return True

    def _settle(self, path: Path, tracked: Tracked, outcome: IngestOutcome, sidecars: list[Path]) -> None:
        if outcome.status == "changed":
            tracked.stable_since = time.monotonic()
            return
        if outcome.status == "failed" and outcome.moved_to is None:
            self._given_up[path] = tracked.signature  # could not move it: try again only once it changes
            return
        self._tracked.pop(path, None)
        self._given_up.pop(path, None)
        for sidecar in sidecars:
            if not sidecar.exists():
                self._tracked.pop(sidecar, None)
