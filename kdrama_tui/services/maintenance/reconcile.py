"""Videos whose rows say "ready" but whose files are gone: re-queue them, or mark them missing.

A backup holds the database, not the media; restoring an older one brings back the rows of videos deleted
since, and a lost or replaced disk does the same to every row. Such a video would stay "ready" in the
catalog while its player gets 404s. The check runs at every server start (so after a restore's restart)
and right after a restore through the admin API; for each ready video it compares the generated files
its rows name (playlists, segments, subtitles, images) with what the storage holds:

- the original is still stored: its generated rows go, and it is queued for a transcode (``processing``);
- the original is gone too: ``failed`` with ``missing_reason`` (out of the catalog, listed as missing).

A video marked missing whose files are all back (a disk mounted late) is ready again at the next check.
When every ready video (more than a few) has lost its files, the storage is most likely not mounted or
points elsewhere: nothing is changed and the report says why (the orphan sweep reasons the same way).
A storage that cannot be read (an S3 outage) leaves that video alone: only files known absent count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.models import Video, VideoFile
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.media import GENERATED_FILE_TYPES
from kdrama_tui.storage import Storage

log = logging.getLogger(__name__)

SUSPICIOUS_COUNT = 3  # every one of more than this many ready videos missing: the storage is absent


@dataclass(frozen=True)
class Reconciled:
    video_id: int
    title: str
    missing_files: int  # generated files its rows name that the storage does not hold
    files: int  # generated files its rows name
    reason: str
    job_id: int | None = None  # the transcode queued (re-queued videos)


@dataclass
class ReconcileReport:
    checked: int = 0
    requeued: list[Reconciled] = field(default_factory=list)
    missing: list[Reconciled] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)  # missing videos whose files were all back
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (video id, why it could not be checked)
    refused: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "requeued": [asdict(r) for r in self.requeued],
                "missing": [asdict(r) for r in self.missing], "recovered": self.recovered,
                "skipped": [{"video_id": v, "why": why} for v, why in self.skipped], "refused": self.refused}

    def summary(self) -> str:
        if self.refused:
            return f"media check changed nothing: {self.refused}"
        parts = [f"{self.checked} ready video{'s' if self.checked != 1 else ''} checked"]
        parts += [f"{len(self.requeued)} re-queued (files missing, original kept)"] if self.requeued else []
        parts += [f"{len(self.missing)} missing (files and original gone)"] if self.missing else []
        parts += [f"{len(self.recovered)} back to ready"] if self.recovered else []
        parts += [f"{len(self.skipped)} not checked"] if self.skipped else []
        return ", ".join(parts)


def _generated(files: list[VideoFile]) -> list[VideoFile]:
    return [f for f in files if f.file_type in GENERATED_FILE_TYPES or f.file_type.startswith("transcoded_")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class MediaReconciler:
    def __init__(self, storages: Mapping[str, Storage], events: EventBus) -> None:
        self.storages = storages
        self.events = events

    async def _absent(self, rows: list[VideoFile]) -> list[VideoFile]:
        """The rows whose file the storage does not hold; KeyError/OSError when a storage cannot tell."""
        absent = []
        listed: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            storage = self.storages[row.storage_provider]  # KeyError: not configured here
            folder = row.file_path.rsplit("/", 1)[0] + "/" if "/" in row.file_path else ""
            key = (row.storage_provider, folder)
            if key not in listed:  # one listing per folder, not one request per segment
                listed[key] = set(await storage.list(folder))
            if row.file_path not in listed[key]:
                absent.append(row)
        return absent

    async def _original_stored(self, files: list[VideoFile]) -> VideoFile | None:
        original = next((f for f in files if f.file_type == "original"), None)
        if original is None:
            return None
        storage = self.storages.get(original.storage_provider)
        if storage is None or not await storage.exists(original.file_path):
            return None
        return original

    async def run(self, db: Database) -> ReconcileReport:
        """Check every ready video (and every missing one) of ``db`` against the storage and fix the rows."""
        repos = repos_of(db)
        report = ReconcileReport()
        ready = await repos.videos.find_by_status("ready")
        report.checked = len(ready)
        plans: list[tuple[Video, list[VideoFile], list[VideoFile]]] = []
        for video in ready:
            files = await repos.video_files.find_by_video(video.id)
            generated = _generated(files)
            try:
                absent = await self._absent(generated)
            except Exception as exc:  # any storage failure (not configured here, unreachable): leave it be
                report.skipped.append((video.id, f"{type(exc).__name__}: {exc}"))
                continue
            if absent or not generated:
                plans.append((video, files, absent))
        if len(ready) > SUSPICIOUS_COUNT and len(plans) == len(ready):
            report.refused = (f"all {len(ready)} ready videos lack their files: the media storage looks unmounted "
                              "or belongs elsewhere; check [storage] and restart")
            log.error("%s", report.summary())
            return report
        for video, files, absent in plans:
            generated = _generated(files)
            what = (f"{len(absent)} of {_plural(len(generated), 'file')} missing" if generated
                    else "no playlist or segment recorded")
            if await self._original_stored(files) is not None:
                async with db.transaction() as tx:
                    await repos_of(tx).video_files.delete_generated(video.id)
                    job = await repos_of(tx).jobs.active_for_video(video.id) or await repos_of(tx).jobs.create(
                        {"video_id": video.id, "status": "queued", "provider": "local_server", "priority": 3,
                         "progress": 0})
                    await repos_of(tx).videos.update(video.id, {"status": "processing", "missing_reason": None})
                item = Reconciled(video.id, video.title, len(absent), len(generated),
                                  f"{what}; transcoding again from its original", job.id)
                report.requeued.append(item)
                self.events.publish("job.queued", job_id=job.id, video_id=video.id, priority=job.priority)
                self.events.publish("video.requeued", video_id=video.id, title=video.title, reason=item.reason)
            else:
                reason = f"{what}, and its original is gone too: upload it again or delete the video"
                await repos.videos.update(video.id, {"status": "failed", "missing_reason": reason})
                report.missing.append(Reconciled(video.id, video.title, len(absent), len(generated), reason))
                self.events.publish("video.missing", video_id=video.id, title=video.title, reason=reason)
        await self._recover(db, report)
        if report.requeued or report.missing or report.recovered:
            log.warning("%s", report.summary())
        return report

    async def _recover(self, db: Database, report: ReconcileReport) -> None:
        """Missing videos whose generated files are all stored again become ready."""
        repos = repos_of(db)
        for video in await repos.videos.search_missing():
            generated = _generated(await repos.video_files.find_by_video(video.id))
            try:
                if not generated or await self._absent(generated):
                    continue
            except Exception as exc:  # cannot tell: it stays missing
                log.warning("could not check the files of missing video %d: %s", video.id, exc)
                continue
            await repos.videos.update(video.id, {"status": "ready", "missing_reason": None})
            report.recovered.append(video.id)
            self.events.publish("video.ready", video_id=video.id, title=video.title)
