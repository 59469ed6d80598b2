"""Import one complete file: checks, duplicate detection, metadata, then the shared hand-off.

Order, cheapest refusal first: the file is opened without following symlinks and must be a non-empty
regular file we can read; its ``Name.json`` sidecar must be valid; the media pipeline's probe must find a
video in it (deciding it here puts a text file dropped by mistake into ``failed/`` with a reason instead
of making it a failed video in the library); then its SHA-256 is computed from the same open descriptor.
Content already in the library (same SHA-256,
whatever the name) is a duplicate. Everything else goes through ``Library.accept_original(move=...)``,
which records the SHA-256 in ``videos.source_sha256`` inside the video's own transaction (its UNIQUE
index is what makes a concurrent second import of the same bytes fail instead of doubling). Only after
that commit is the ``ingested_files`` mark written.

A refused file moves to ``<watch>/failed/`` (same sub-folder, sidecars with it) beside a
``<name>.error.txt`` that says why; nothing under ``failed/`` is ever picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Literal

from kdrama_tui.config import Settings
from kdrama_tui.db import Database, Executor
from kdrama_tui.errors import Conflict, UniqueViolation, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.fsutil import atomic_write_bytes
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.errors import FFmpegError, InputError
from kdrama_tui.media.probe import probe
from kdrama_tui.models import Video, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.service import AccountService
from kdrama_tui.services.ingest.naming import ParsedName, parse_path
from kdrama_tui.services.ingest.show_folder import find_show_json, load_show_json
from kdrama_tui.services.ingest.sidecars import Sidecars, find_sidecars, load_metadata
from kdrama_tui.services.library.handoff import Library
from kdrama_tui.services.library.metadata import parse_metadata
from kdrama_tui.services.series.placement import EpisodeGuess, Placement, place

log = logging.getLogger(__name__)

FAILED_DIR = "failed"
_HASH_BUFFER = 8 << 20

Status = Literal["ingested", "duplicate", "already_ingested", "failed", "changed", "skipped"]


@dataclass(frozen=True)
class IngestOutcome:
    status: Status
    path: Path
    reason: str | None = None
    video_id: int | None = None
    job_id: int | None = None
    title: str | None = None
    sha256: str | None = None
    moved_to: Path | None = None
    series_id: int | None = None  # the series it was placed in as an episode
    unmatched: str | None = None  # why a file naming an episode was not placed (it is a lone video)

    @property
    def ok(self) -> bool:
        """The content is in the library (imported now or before)."""
        return self.status in ("ingested", "duplicate", "already_ingested")


class IngestFailure(Exception):
    """The file cannot be imported; the message is the reason written beside it in failed/."""


class _Skip(Exception):
    """Not a regular file (symlink, FIFO, device): never read, never moved."""


class _Changed(Exception):
    """The file changed while it was being checked: it is not complete after all."""


@dataclass(frozen=True)
class _Opened:
    size: int
    mtime_ns: int
    inode: int
    sha256: str


def _open_regular(path: Path) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO swapped in cannot hang us; O_NOFOLLOW: no symlink
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Skip("it is a symlink") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise IngestFailure("cannot read it: permission denied") from exc
        if exc.errno == errno.ENOENT:
            raise _Changed("it disappeared") from exc
        raise IngestFailure(f"cannot read it: {exc.strerror or exc}") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _Skip("it is not a regular file (FIFO, device or socket)")
    return fd


def _check_readable(path: Path) -> os.stat_result:
    fd = _open_regular(path)
    try:
        st = os.fstat(fd)
        if st.st_size == 0:
            raise IngestFailure("it is empty (0 bytes)")
        try:
            head = os.read(fd, 1024)
        except OSError as exc:
            raise IngestFailure(f"cannot read it: {exc.strerror or exc}") from exc
        # Playlists are refused before ffprobe sees them: on a live HLS or DASH playlist it waits for new
        # segments until its time limit, which would hold up the whole folder for a minute per file.
        if head.lstrip(b"\xef\xbb\xbf").startswith((b"#EXTM3U", b"ffconcat")) or (
                head.lstrip().startswith(b"<?xml") and b"<MPD" in head):
            raise IngestFailure("it is a playlist, not a video file")
        return st
    finally:
        os.close(fd)


def _hash(path: Path, before: os.stat_result, on_bytes: Callable[[int], None] | None = None) -> _Opened:
    fd = _open_regular(path)
    try:
        st = os.fstat(fd)
        if st.st_ino != before.st_ino or st.st_size != before.st_size:
            raise _Changed("it was replaced or changed size")
        digest, total = hashlib.sha256(), 0
        try:
            while block := os.read(fd, _HASH_BUFFER):
                digest.update(block)
                total += len(block)
                if on_bytes is not None:
                    on_bytes(total)
        except OSError as exc:
            raise IngestFailure(f"cannot read it: {exc.strerror or exc}") from exc
        after = os.fstat(fd)
        if total != before.st_size or after.st_size != total or after.st_mtime_ns != before.st_mtime_ns:
            raise _Changed("it changed while it was being read")
        return _Opened(total, after.st_mtime_ns, after.st_ino, digest.hexdigest())
    finally:
        os.close(fd)


def failed_location(path: Path, root: Path) -> Path:
    """Where ``path`` goes in ``<root>/failed/`` (same sub-folder; ``Name (2).mkv`` when taken)."""
    try:
        relative_dir = path.parent.relative_to(root)
    except ValueError:
        relative_dir = PurePath()
    folder = root / FAILED_DIR / relative_dir
    candidate, n = folder / path.name, 1
    while candidate.exists() or candidate.with_name(candidate.name + ".error.txt").exists():
        n += 1
        candidate = folder / f"{path.stem} ({n}){path.suffix}"
    return candidate


def move_to_failed(path: Path, root: Path, reason: str, sidecars: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Move a refused file (and its sidecars) into failed/ and write ``<name>.error.txt`` beside it."""
    target = failed_location(path, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, target)  # failed/ is inside the watch folder: same filesystem, atomic
    for sidecar in sidecars:
        with contextlib.suppress(OSError):
            renamed = target.parent / (target.stem + sidecar.name[len(path.stem):])
            if not renamed.exists():
                os.rename(sidecar, renamed)
    when = utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")
    text = (f"kdrama-tui did not import \"{path.name}\" ({when}):\n{reason}\n\n"
            f"Files in {FAILED_DIR}/ are never picked up again. To retry, fix the file and drop it into the "
            f"watch folder again.\n")
    atomic_write_bytes(target.with_name(target.name + ".error.txt"), text.encode("utf-8"))
    return target


class FileImporter:
    """Imports single files; shared by the watch folder and ``kdrama-tui ingest``."""

    def __init__(self, settings: Settings, db: Database, library: Library, accounts: AccountService,
                 events: EventBus, binaries: Binaries) -> None:
        self.settings = settings
        self.db = db
        self.library = library
        self.accounts = accounts
        self.events = events
        self.binaries = binaries
        self._account_id: int | None = None
        self._account_lock = asyncio.Lock()

    async def account_id(self) -> int:
        """The ingest account's id; created on first use with a random password nobody knows."""
        async with self._account_lock:
            if self._account_id is not None:
                return self._account_id
            name = self.settings.ingest.account
            user = await repos_of(self.db).users.find_by_username(name)
            if user is None:
                try:
                    user = await self.accounts.create_user(name, f"{name}@ingest.invalid",
                                                           secrets.token_urlsafe(48), role="user")
                    log.info("created the ingest account %r (it cannot log in: its password was never shown)",
                             name)
                except Conflict:  # another process created it meanwhile
                    user = await repos_of(self.db).users.find_by_username(name)
                    if user is None:
                        raise
            self._account_id = user.id
            return user.id

    async def import_file(self, path: Path, *, root: Path | None = None, failed_root: Path | None = None,
                          move: bool = True, on_bytes: Callable[[int], None] | None = None) -> IngestOutcome:
        """Import ``path``; ``root`` is the folder its name is read relative to (show folders), and
        ``failed_root`` the watch folder whose ``failed/`` takes it when it is refused (None: leave it).
        ``on_bytes`` is told, from a worker thread, how many bytes of the file have been read (hashed)."""
        listed_at = utcnow()  # before the sidecars are listed: a subtitle arriving later was never offered
        sidecars = find_sidecars(path)
        try:
            return await self._import(path, root, failed_root, sidecars, move, listed_at, on_bytes)
        except _Skip as exc:
            log.warning("skipped %s: %s (never read)", path, exc)
            return IngestOutcome("skipped", path, reason=str(exc))
        except _Changed as exc:
            log.info("%s is still changing (%s); waiting", path, exc)
            return IngestOutcome("changed", path, reason=f"it changed while being imported ({exc})")
        except IngestFailure as exc:
            return await self._fail(path, failed_root, str(exc), sidecars)

    async def _fail(self, path: Path, failed_root: Path | None, reason: str, sidecars: Sidecars) -> IngestOutcome:
        moved_to = None
        if failed_root is not None:
            try:
                moved_to = await asyncio.to_thread(move_to_failed, path, failed_root, reason, sidecars.paths)
            except OSError as exc:
                log.error("could not move %s to %s/: %s", path, FAILED_DIR, exc)
        log.warning("not imported %s: %s%s", path, reason, f" (moved to {moved_to})" if moved_to else "")
        self.events.publish("ingest.failed", path=str(path), name=path.name, reason=reason,
                            moved_to=str(moved_to) if moved_to else None)
        return IngestOutcome("failed", path, reason=reason, moved_to=moved_to)

    async def _import(self, path: Path, root: Path | None, failed_root: Path | None, sidecars: Sidecars,
                      move: bool, listed_at: datetime,
                      on_bytes: Callable[[int], None] | None = None) -> IngestOutcome:
        before = await asyncio.to_thread(_check_readable, path)
        fields: dict[str, object] = {}
        if sidecars.metadata is not None:
            try:
                fields = await asyncio.to_thread(load_metadata, sidecars.metadata)
            except ValidationError as exc:
                raise IngestFailure(f"bad metadata sidecar: {exc.message}") from exc
        try:
            # The media pipeline's probe (ffprobe's header read, or ffmpeg -i): cheap whatever the size,
            # and it refuses playlists, images, text and audio-only files by content, not by name.
            await probe(self.binaries, path, name=path.name)
        except (InputError, FFmpegError) as exc:  # FFmpegError: the probe crashed or ran out of time on it
            raise IngestFailure(str(exc)) from exc
        opened = await asyncio.to_thread(_hash, path, before, on_bytes)

        existing = await repos_of(self.db).videos.find_one_by(source_sha256=opened.sha256)
        if existing is not None:
            return await self._duplicate(path, failed_root, existing, opened, sidecars, move)

        relative = path.relative_to(root) if root is not None and path.is_relative_to(root) \
            else PurePath(path.parent.name, path.name)
        parsed = await asyncio.to_thread(parse_path, relative)  # guessit loads its rules on first use
        season = fields.pop("season", parsed.season)
        episode = fields.pop("episode", parsed.episode)
        guess = await self._episode_guess(path, root, parsed, fields, season, episode)
        given = {"title": parsed.display_title, "year": parsed.year, **fields}
        try:
            metadata = parse_metadata(given, parsed.title)
        except ValidationError as exc:
            raise IngestFailure(f"metadata not accepted: {exc.message}") from exc
        uploader_id = await self.account_id()
        placed: list[Placement] = []

        async def place_episode(tx: Executor, video: Video) -> None:  # in the video's own transaction
            placed.append(await place(tx, video, guess))

        try:
            accepted = await self.library.accept_original(
                uploader_id=uploader_id, source=path, original_filename=path.name, metadata=metadata,
                sidecars=sidecars.subtitles, expected_sha256=opened.sha256, move=move,
                extra_video_columns={"source_sha256": opened.sha256}, in_transaction=place_episode)
        except UniqueViolation as exc:
            if exc.details.get("field") != "source_sha256":
                raise
            # Another importer (the server's watcher, a parallel `kdrama-tui ingest`) took the same bytes
            # between our check and our insert; accept_original has put the file back.
            existing = await repos_of(self.db).videos.find_one_by(source_sha256=opened.sha256)
            if existing is None:
                raise
            return await self._duplicate(path, failed_root, existing, opened, sidecars, move)
        except ValidationError as exc:
            if exc.code == "checksum_mismatch":
                raise _Changed("its content changed while it was being stored") from exc
            raise IngestFailure(f"not accepted: {exc.message}") from exc

        await repos_of(self.db).ingested_files.record({
            "sha256": opened.sha256, "source_path": str(path), "file_size": opened.size,
            "video_id": accepted.video.id, "show_title": parsed.title, "season": season, "episode": episode,
            # When its sidecars were listed, not when the (possibly long) import ended: a subtitle that
            # arrived meanwhile was never offered, and the late-subtitle rule compares against this.
            "ingested_at": listed_at,
        })
        if move:
            for sidecar in sidecars.paths:  # copied into storage with the video; the folder empties
                with contextlib.suppress(OSError):
                    sidecar.unlink()
        video = accepted.video
        placement = placed[0] if placed else Placement()
        log.info("ingested %s as video %d %r (job %d queued)", path, video.id, video.title, accepted.job.id)
        self.events.publish("ingest.ingested", path=str(path), name=path.name, video_id=video.id,
                            title=video.title, job_id=accepted.job.id, size=opened.size, sha256=opened.sha256,
                            subtitles=len(sidecars.subtitles), season=season, episode=episode,
                            series_id=placement.series_id, unmatched=placement.reason)
        if placement.created:
            self.events.publish("series.created", series_id=placement.series_id, title=guess.show_title)
        return IngestOutcome("ingested", path, video_id=video.id, job_id=accepted.job.id, title=video.title,
                             sha256=opened.sha256, series_id=placement.series_id, unmatched=placement.reason)

    async def _episode_guess(self, path: Path, root: Path | None, parsed: ParsedName, fields: dict[str, Any],
                             season: int | None, episode: int | None) -> EpisodeGuess:
        """The episode the name and sidecars describe (``fields`` loses the episode keys); the show
        folder's JSON is read only for a file that names an episode."""
        extra = {key: fields.pop(key, None) for key in ("episode_end", "episode_title", "air_date")}
        for key in ("episode_end", "air_date"):  # the sidecar's word over the name's
            if extra[key] is None:
                extra[key] = getattr(parsed, key, None)
        guess = EpisodeGuess(show_title=parsed.title, year=parsed.year, season=season, episode=episode,
                             special=bool(getattr(parsed, "special", False)), source_name=path.name, **extra)
        if not guess.is_episode:
            return guess
        show_json = await asyncio.to_thread(find_show_json, path, root, parsed.title)
        if show_json is None:
            return guess
        try:
            series_fields = await asyncio.to_thread(load_show_json, show_json)
        except ValidationError as exc:  # the video is still imported, as unmatched with the reason
            return replace(guess, series_error=exc.message)
        return replace(guess, series_fields=series_fields)

    async def _duplicate(self, path: Path, failed_root: Path | None, existing: Video, opened: _Opened,
                         sidecars: Sidecars, move: bool) -> IngestOutcome:
        mark = await repos_of(self.db).ingested_files.find(opened.sha256, str(path))
        if mark is not None and mark.video_id == existing.id:
            # The very file imported from here before (a move interrupted after its commit, or a --copy
            # import run again): not a second drop, nothing to report as a problem.
            if move:
                for leftover in (path, *sidecars.paths):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
            log.info("%s was already imported as video %d", path, existing.id)
            self.events.publish("ingest.duplicate", path=str(path), name=path.name, video_id=existing.id,
                                sha256=opened.sha256, already_ingested=True)
            return IngestOutcome("already_ingested", path, video_id=existing.id, title=existing.title,
                                 sha256=opened.sha256)
        reason = (f"duplicate: the same content (SHA-256 {opened.sha256[:16]}...) is already video "
                  f"{existing.id} \"{existing.title}\"")
        moved_to = None
        if failed_root is not None and move:
            try:
                moved_to = await asyncio.to_thread(move_to_failed, path, failed_root, reason, sidecars.paths)
            except OSError as exc:
                log.error("could not move duplicate %s to %s/: %s", path, FAILED_DIR, exc)
        log.info("%s: %s", path, reason)
        self.events.publish("ingest.duplicate", path=str(path), name=path.name, video_id=existing.id,
                            sha256=opened.sha256, moved_to=str(moved_to) if moved_to else None)
        return IngestOutcome("duplicate", path, reason=reason, video_id=existing.id, title=existing.title,
                             sha256=opened.sha256, moved_to=moved_to)
