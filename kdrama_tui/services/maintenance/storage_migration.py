"""Move every stored file of the library to another provider (local <-> S3-compatible), safely.

For each ``video_files`` row not yet on the target, in id order:

1. copy the object (streamed; the bytes read from the source are hashed on the way),
2. check the source against the row's SHA-256, then re-read the copy from the target and check its size
   and SHA-256 against the source's,
3. switch the row to the target in a transaction, only if it still names the source.

Sources are deleted afterwards, in a sweep that removes from each source provider the keys that rows now
on the target name and that no row on that provider still names. So the work is idempotent: killed at
any point, the next run finds a verified copy already on the target (it is re-hashed, not re-sent),
switches the row, and sweeps what the killed run left. Nothing is lost (a row never points at an
unverified copy) and nothing stays doubled. A small state file names the source providers until the sweep
is done, so a resumed run sweeps them even when no row names them any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.fsutil import atomic_write_bytes
from kdrama_tui.models import VideoFile
from kdrama_tui.repositories import repos_of
from kdrama_tui.storage import Storage
from kdrama_tui.storage.base import StorageError

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PAGE = 200
_READ_CHUNK = 8 * 1024 * 1024


class FileCopyError(Exception):
    """One file could not be moved (the row stays where it was)."""


@dataclass
class MigrationReport:
    target: str
    total: int = 0  # rows that were not on the target when the run started
    copied: int = 0
    reused: int = 0  # a verified copy was already there (an interrupted run)
    switched: int = 0
    bytes_copied: int = 0
    total_bytes: int = 0  # the size of the rows counted in ``total``
    bytes_done: int = 0  # of those, the bytes dealt with (sent so far, or the whole row once reused or failed)
    sources_deleted: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (row id, key, why)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "total": self.total, "copied": self.copied, "reused": self.reused,
                "switched": self.switched, "bytes_copied": self.bytes_copied,
                "total_bytes": self.total_bytes, "bytes_done": self.bytes_done,
                "sources_deleted": self.sources_deleted,
                "failed": [{"id": i, "key": k, "error": e} for i, k, e in self.failed]}


async def hash_object(storage: Storage, key: str) -> tuple[int, str]:
    """(size, SHA-256) of an object, read back from the provider."""
    digest, size = hashlib.sha256(), 0
    async for chunk in storage.read(key, chunk_size=_READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class StorageMigration:
    def __init__(self, db: Database, events: EventBus, storage_for: Callable[[str], Storage], *,
                 state_file: Path, known_providers: Iterable[str] = ("local",), concurrency: int = 4,
                 progress: Callable[[MigrationReport, int], None] | None = None) -> None:
        self.db = db
        self.events = events
        self.storage_for = storage_for
        self.state_file = state_file
        self.known_providers = set(known_providers)
        self.concurrency = max(1, concurrency)
        self.progress = progress
        self._last_event = 0.0

    async def run(self, target_provider: str) -> MigrationReport:
        target = self.storage_for(target_provider)
        await target.check()
        report = MigrationReport(target=target_provider)
        totals = await repos_of(self.db).video_files.totals_by_provider()
        report.total = sum(n for provider, (n, _b) in totals.items() if provider != target_provider)
        report.total_bytes = sum(b for provider, (_n, b) in totals.items() if provider != target_provider)
        for provider in totals:
            if provider != target_provider:
                await self.storage_for(provider).check()  # fail fast on a misconfigured source
        sources = (set(totals) | self.known_providers | self._pending_sources()) - {target_provider}
        atomic_write_bytes(self.state_file, json.dumps({"target": target_provider,
                                                        "sources": sorted(sources)}).encode())
        self.events.publish("storage_migration.started", target=target_provider, total=report.total)
        log.info("moving %d file(s) to %s", report.total, target_provider)
        try:
            await self._copy_all(target_provider, target, report)
            await self._sweep(target_provider, sources, report)
            if report.ok:
                self.state_file.unlink(missing_ok=True)
        except BaseException as exc:
            self.events.publish("storage_migration.failed", target=target_provider, error=str(exc),
                                **_counts(report))
            raise
        self._report_progress(report, force=True)
        self.events.publish("storage_migration.finished", target=target_provider, **_counts(report),
                            failed=len(report.failed))
        return report

    async def _copy_all(self, target_provider: str, target: Storage, report: MigrationReport) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        after_id = 0
        while rows := await repos_of(self.db).video_files.page_not_on(target_provider, after_id, _PAGE):
            after_id = rows[-1].id

            async def one(row: VideoFile) -> None:
                async with gate:
                    sent = [0]  # bytes of this row already counted in bytes_done while it was sent
                    try:
                        await self._move_row(row, target_provider, target, report, sent)
                    finally:
                        report.bytes_done += max(0, (row.file_size or 0) - sent[0])
                    self._report_progress(report)

            try:
                async with asyncio.TaskGroup() as group:
                    for row in rows:
                        group.create_task(one(row))
            except BaseExceptionGroup as failure:
                # A systemic failure (credentials, bucket, disk): report the first as itself, not as a group.
                raise failure.exceptions[0] from None

    async def _move_row(self, row: VideoFile, target_provider: str, target: Storage,
                        report: MigrationReport, sent: list[int]) -> None:
        key = row.file_path
        expected = row.checksum.lower() if _SHA256.match(row.checksum.lower()) else None
        try:
            source = self.storage_for(row.storage_provider)
            if not await self._already_there(source, target, key, expected):
                await self._copy(source, target, key, expected, report, sent)
            else:
                report.reused += 1
        except FileCopyError as exc:
            log.error("not moved: video_files %d %s: %s", row.id, key, exc)
            report.failed.append((row.id, key, str(exc)))
            return
        except FileNotFoundError:
            # The row may have been deleted with its files while we worked; otherwise its file is lost.
            if await repos_of(self.db).video_files.find_by_id(row.id) is not None:
                report.failed.append((row.id, key, f"missing on {row.storage_provider}"))
            return
        async with self.db.transaction() as tx:
            switched = await repos_of(tx).video_files.switch_provider(row.id, row.storage_provider, target_provider)
        if switched:
            report.switched += 1
        else:  # deleted or moved meanwhile: our copy belongs to nobody
            log.info("video_files %d changed during the move; its copy on %s is dropped", row.id, target_provider)
            await target.delete(key)

    async def _already_there(self, source: Storage, target: Storage, key: str, expected: str | None) -> bool:
        """A complete, verified copy left by an interrupted run (re-hashed, never trusted blindly)."""
        if not await target.exists(key):
            return False
        size, sha = await hash_object(target, key)
        if expected is None:
            expected_size, expected = await hash_object(source, key)
            return (size, sha) == (expected_size, expected)
        return sha == expected

    async def _copy(self, source: Storage, target: Storage, key: str, expected: str | None,
                    report: MigrationReport, sent: list[int]) -> None:
        stored = await target.put_stream(key, self._counted(source.read(key, chunk_size=_READ_CHUNK), report, sent))
        if expected is not None and stored.sha256 != expected:
            await target.delete(key)
            raise FileCopyError(f"the source's SHA-256 {stored.sha256[:12]}... does not match the recorded "
                                f"{expected[:12]}...: the file on the source is damaged")
        size, sha = await hash_object(target, key)
        if (size, sha) != (stored.size, stored.sha256):
            await target.delete(key)
            raise FileCopyError(f"the copy read back from the target differs ({size} bytes, {sha[:12]}...)")
        report.copied += 1
        report.bytes_copied += stored.size

    async def _counted(self, chunks: AsyncIterator[bytes], report: MigrationReport,
                       sent: list[int]) -> AsyncIterator[bytes]:
        """The chunks, counted into the report's progress as they go (a large original takes minutes)."""
        async for chunk in chunks:
            sent[0] += len(chunk)
            report.bytes_done += len(chunk)
            self._report_progress(report)
            yield chunk

    def _pending_sources(self) -> set[str]:
        """Sources named by an unfinished run's state file."""
        with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
            return set(json.loads(self.state_file.read_text())["sources"])
        return set()

    async def _sweep(self, target_provider: str, sources: set[str], report: MigrationReport) -> None:
        """Delete source copies of files whose rows are now on the target (this run's and a killed run's)."""
        repo = repos_of(self.db).video_files
        on_target = await repo.paths_on(target_provider)
        for provider in sorted(sources):
            try:
                source = self.storage_for(provider)
            except StorageError as exc:
                log.warning("cannot sweep %s: %s", provider, exc)
                continue
            still_needed = await repo.paths_on(provider)
            stale = [k for k in await source.list() if k in on_target and k not in still_needed]
            if stale:
                await source.delete_many(stale)
                report.sources_deleted += len(stale)
                log.info("deleted %d moved file(s) from %s", len(stale), provider)

    def _report_progress(self, report: MigrationReport, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_event < 1.0:
            return
        self._last_event = now
        done = report.copied + report.reused + len(report.failed)
        self.events.publish("storage_migration.progress", target=report.target, done=done, total=report.total,
                            bytes=report.bytes_copied, bytes_done=report.bytes_done,
                            total_bytes=report.total_bytes, failed=len(report.failed))
        if self.progress is not None:
            self.progress(report, done)


def _counts(report: MigrationReport) -> dict[str, int]:
    return {"total": report.total, "copied": report.copied, "reused": report.reused,
            "switched": report.switched, "bytes": report.bytes_copied, "sources_deleted": report.sources_deleted}
