"""Ending sessions: abort (DELETE), and the cleanup sweep of expired and stuck uploads.

A part of :class:`~kdrama_tui.services.uploads.service.UploadService` (a mixin using its state).
"""

from __future__ import annotations

import asyncio
import logging

from kdrama_tui.errors import Conflict, DomainError
from kdrama_tui.models import Upload, User
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.uploads.states import (
    OPEN,
    Gone,
    age_seconds,
)

log = logging.getLogger(__name__)


class Ending:
    """Aborts and the periodic sweep."""

    async def abort(self, user: User, upload_id: int) -> Upload:
        """DELETE: stop a session and remove its bytes (idempotent for sessions already ended)."""
        upload = await self.get(user, upload_id)
        return await self._abort(upload)

    async def abort_tus(self, user: User, token: str) -> Upload:
        """tus termination: an open upload is aborted (its bytes deleted); a completed one's record is
        terminated while its video stays. Later requests about it answer 410, a second DELETE included."""
        upload = await self.get_by_token(user, token)
        async with self._lock(upload.id):  # a completion in progress finishes first
            ended = await repos_of(self.db).uploads.transition(
                upload.id, ("completed", *OPEN), {"status": "aborted", "updated_at": self.clock()})
        if ended is None:
            current = await repos_of(self.db).uploads.get(upload.id)
            raise Gone("this upload was already terminated", code=f"upload_{current.status}")
        await self.store.remove(upload.token)
        self._forget(upload.id)
        self.events.publish("upload.aborted", upload_id=upload.id, user_id=upload.user_id)
        log.info("tus upload %d terminated%s", upload.id,
                 f" after completion (video {ended.video_id} kept)" if ended.video_id is not None else "")
        return ended

    async def _abort(self, upload: Upload) -> Upload:
        async with self._lock(upload.id):  # never in the middle of a completion
            now = self.clock()
            aborted = await repos_of(self.db).uploads.transition(upload.id, OPEN,
                                                                  {"status": "aborted", "updated_at": now})
            if aborted is None:
                current = await repos_of(self.db).uploads.get(upload.id)
                if current.status == "completed":
                    raise Conflict("this upload is completed; delete the video instead", code="upload_completed",
                                   details={"video_id": current.video_id})
                await self.store.remove(upload.token)  # already ended: make sure no bytes remain
                return current
        await self.store.remove(upload.token)
        self._forget(upload.id)
        self.events.publish("upload.aborted", upload_id=upload.id, user_id=upload.user_id)
        log.info("upload %d aborted", upload.id)
        return aborted

    async def sweep(self) -> dict[str, int]:
        """One cleanup pass: finish uploads whose bytes are all in, expire idle ones, delete stray bytes."""
        report = {"completed": 0, "expired": 0, "removed_folders": 0, "removed_temp_files": 0}
        repo = repos_of(self.db).uploads
        for upload in await repo.find_in_statuses(("uploading", "assembling")):
            finished = upload.status == "assembling" or (
                upload.protocol == "tus" and upload.bytes_received == upload.total_size)
            if not finished or self.completing(upload.id) or self.inflight.busy(upload.id):
                continue
            try:
                await self.complete(None, upload.id)
                report["completed"] += 1
            except DomainError as exc:
                log.warning("could not finish upload %d yet: %s", upload.id, exc.message)
            except Exception:
                log.exception("could not finish upload %d", upload.id)
        now = self.clock()
        for upload in await repo.find_expired(OPEN, now):
            if self.completing(upload.id) or self.inflight.busy(upload.id):
                continue  # bytes are arriving right now, or it is being assembled
            expired = await repo.transition(upload.id, OPEN, {"status": "expired", "updated_at": now},
                                            expired_before=now)
            if expired is None:
                continue
            await self.store.remove(upload.token)
            self._forget(upload.id)
            report["expired"] += 1
            self.events.publish("upload.expired", upload_id=upload.id, user_id=upload.user_id,
                                bytes_received=upload.bytes_received)
            log.info("upload %d expired after %.1f idle hours; its bytes were deleted", upload.id,
                     self.limits.expire_hours)
        for folder in await asyncio.to_thread(self.store.folders):
            upload = await repo.find_by_token(folder.name)
            if upload is not None and upload.status in OPEN:
                if not self.inflight.busy(upload.id) and not self.completing(upload.id):
                    report["removed_temp_files"] += await self.store.remove_temp_files(folder.name)
                continue
            # An ended session whose bytes outlived it (the process died before deleting them), or a folder
            # without a row (a crash during creation; only once it is old, in case the row is on its way).
            if upload is not None or age_seconds(folder) > self.limits.expire_hours * 3600:
                await self.store.remove(folder.name)
                report["removed_folders"] += 1
        return report

    async def run_cleanup(self) -> None:
        """The background task: sweep at start (recovering from a crash) and every interval after."""
        while True:
            try:
                report = await self.sweep()
                if any(report.values()):
                    log.info("upload cleanup: %s", report)
            except Exception:
                log.exception("upload cleanup failed; will retry")
            await asyncio.sleep(self.limits.cleanup_interval_seconds)
