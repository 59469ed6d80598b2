"""Completion: assemble the parts, hand the file to the library and mark the session completed in one transaction.

A part of :class:`~kdrama_tui.services.uploads.service.UploadService` (a mixin using its state).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kdrama_tui.db import Executor
from kdrama_tui.errors import Conflict, ValidationError
from kdrama_tui.models import Upload, User, Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.library.metadata import parse_metadata
from kdrama_tui.services.series.fields import clean_upload_episode
from kdrama_tui.services.series.placement import place, upload_guess
from kdrama_tui.services.uploads import tusfile
from kdrama_tui.services.uploads.chunkstore import (
    ASSEMBLED,
    AssemblyError,
    PartRef,
)
from kdrama_tui.services.uploads.states import (
    OPEN,
    RECEIVING,
    ChecksumMismatch,
)

log = logging.getLogger(__name__)


class Completion:
    """From the last byte to a video."""

    def _lock(self, upload_id: int) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[upload_id] = lock
        return lock

    def completing(self, upload_id: int) -> bool:
        lock = self._locks.get(upload_id)
        return lock is not None and lock.locked()

    async def complete(self, user: User | None, upload_id: int) -> Upload:
        """Assemble, check and hand off a fully received upload; idempotent (one video, however often).

        ``user`` None is the cleanup task finishing an upload whose owner went away mid-assembly.
        """
        lock = self._lock(upload_id)
        async with lock:
            if user is not None:
                upload = await self.get(user, upload_id, allow_admin=False)
            else:
                upload = await repos_of(self.db).uploads.get(upload_id)
            if upload.status == "completed":
                return upload
            if upload.status in RECEIVING:
                upload = await self._start_assembly(upload)
            elif upload.status != "assembling":
                self.require_receiving(upload)
            return await self._assemble_and_hand_off(upload)

    async def _start_assembly(self, upload: Upload) -> Upload:
        if upload.protocol == "tus":
            if upload.total_size is None:
                raise Conflict("this upload's length is not known yet; send Upload-Length with a PATCH",
                               code="upload_incomplete", details={"offset": upload.bytes_received})
            if upload.bytes_received < upload.total_size:
                raise Conflict(f"only {upload.bytes_received} of {upload.total_size} bytes have arrived",
                               code="upload_incomplete", details={"offset": upload.bytes_received})
        else:
            have = set(upload.uploaded_chunks)
            missing = [n for n in range(upload.total_chunks) if n not in have]
            if missing:
                shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
                raise Conflict(f"{len(missing)} chunk(s) missing: {shown}", code="missing_chunks",
                               details={"missing": missing})
        now = self.clock()
        moved = await repos_of(self.db).uploads.transition(
            upload.id, RECEIVING, {"status": "assembling", "updated_at": now, "expires_at": now + self.expire_after})
        if moved is None:  # aborted or expired between the read and now
            current = await repos_of(self.db).uploads.get(upload.id)
            if current.status != "assembling":
                self.require_receiving(current)
            return current
        return moved

    async def _assemble_and_hand_off(self, upload: Upload) -> Upload:
        assert upload.total_size is not None  # the database's CHECK: nothing is assembled without a length
        parts = [PartRef(c.chunk_number, c.chunk_size, c.checksum)
                 for c in await repos_of(self.db).upload_chunks.verified(upload.id)]
        folder = self.store.folder(upload.token)
        whole = self._tus_digests.pop(upload.id, None) if upload.protocol == "tus" else None
        try:
            if upload.protocol == "tus":  # written in place: the data file becomes the file (a rename)
                await asyncio.to_thread(tusfile.finish, folder, upload.total_size, folder / ASSEMBLED)
            await self.store.assemble(upload.token, parts, upload.total_size)
        except AssemblyError as exc:
            await self._fail(upload, str(exc))
            raise Conflict(f"this upload cannot be assembled: {exc}", code="upload_failed") from exc
        source = await self.store.handoff(upload.token)

        async def mark_completed(tx: Executor, video: Video) -> None:
            now = self.clock()
            done = await repos_of(tx).uploads.transition(upload.id, ("assembling",), {
                "status": "completed", "video_id": video.id, "completed_at": now, "updated_at": now})
            if done is None:
                raise Conflict("the upload was aborted while it was being assembled", code="upload_aborted")
            await place(tx, video, upload_guess(upload.metadata or {}, upload.filename))  # its series, if named

        metadata = parse_metadata(upload.metadata, fallback_title=Path(upload.filename).stem or upload.filename)
        try:
            accepted = await self.library.accept_original(
                uploader_id=upload.user_id, source=source, original_filename=upload.filename, metadata=metadata,
                expected_sha256=upload.expected_sha256, move=True, in_transaction=mark_completed,
                known_sha256=whole[1].hexdigest() if whole is not None and whole[0] == upload.total_size else None)
        except ValidationError as exc:  # the file itself is wrong (e.g. its SHA-256): final
            await self._fail(upload, exc.message)
            if exc.code == "checksum_mismatch":
                raise ChecksumMismatch(exc.message) from exc
            raise
        await self.store.remove(upload.token)
        self._forget(upload.id)
        completed = await repos_of(self.db).uploads.get(upload.id)
        self.events.publish("upload.completed", upload_id=upload.id, video_id=accepted.video.id,
                            user_id=upload.user_id, total_size=upload.total_size)
        log.info("upload %d completed as video %d", upload.id, accepted.video.id)
        return completed

    async def _episode_of(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The metadata's series and episode, checked before a byte is sent (a series id must exist)."""
        episode = clean_upload_episode(metadata)
        if isinstance(episode.get("series"), int) and \
                await repos_of(self.db).series.find_by_id(episode["series"]) is None:
            raise ValidationError(f"series {episode['series']} does not exist", code="invalid_episode",
                                  details={"field": "series"})
        return episode

    async def _fail(self, upload: Upload, reason: str) -> None:
        now = self.clock()
        await repos_of(self.db).uploads.transition(upload.id, OPEN, {
            "status": "failed", "error_message": reason[:1000], "updated_at": now})
        await self.store.remove(upload.token)
        self._forget(upload.id)
        self.events.publish("upload.failed", upload_id=upload.id, user_id=upload.user_id, error=reason)
        log.warning("upload %d failed: %s", upload.id, reason)
