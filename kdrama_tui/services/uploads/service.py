"""Upload sessions: the one implementation behind the chunk API and tus.

Both protocols store an upload as numbered parts: the chunk API's chunks (any order, in parallel, fixed
size), or tus's PATCH bodies (in order, any size, numbered as they come). A part is streamed to disk and
verified by :class:`ChunkStore`, then recorded in ``upload_chunks`` and ``uploads`` in one transaction that
first re-checks the session, so an abort or expiry that happened meanwhile always wins. Completion
assembles the parts, hands the file to :meth:`Library.accept_original` and marks the session completed
inside that same transaction: retried or concurrent completions give one video, never two.

Statuses: ``pending`` (no bytes yet) -> ``uploading`` -> ``assembling`` -> ``completed``; or ``aborted``
(DELETE), ``expired`` (swept after ``uploads.expire_hours`` idle), ``failed`` (the file did not check
out). Rows outlive their bytes as history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, InsufficientStorage, NotFound, TooLarge, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import Upload, User, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.library.handoff import Library, display_filename
from kdrama_tui.services.library.metadata import clean_fields
from kdrama_tui.services.uploads.chunkstore import (
    BodyTooLong,
    ChunkStore,
    ReceivedPart,
    StreamInterrupted,
)
from kdrama_tui.services.uploads.completion import Completion
from kdrama_tui.services.uploads.ending import Ending
from kdrama_tui.services.uploads.progress import InflightTracker, PartKey, percent
from kdrama_tui.services.uploads.states import (
    ENDED,
    OPEN,
    RECEIVING,
    SUPERSEDE_SECONDS,
    TUS_STREAM,
    ChecksumMismatch,
    ChunkResult,
    Gone,
    chunk_conflict,
    iso,
    parse_sha256,
    same_digest,
)
from kdrama_tui.services.uploads.tus_parts import TusAppends

log = logging.getLogger(__name__)

class UploadService(TusAppends, Completion, Ending):
    def __init__(self, db: Database, library: Library, events: EventBus, settings: Settings, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.library = library
        self.events = events
        self.limits = settings.uploads
        self.store = ChunkStore(settings.uploads_dir)
        self.inflight = InflightTracker(events)
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.supersede_seconds = SUPERSEDE_SECONDS
        # tus: upload id -> (offset, SHA-256 of its data file up to there), carried from PATCH to PATCH.
        self._tus_digests: dict[int, tuple[int, Any]] = {}

    @property
    def expire_after(self) -> timedelta:
        return timedelta(hours=self.limits.expire_hours)

    # ---- sessions -------------------------------------------------------------------------------------
    async def create(self, user: User, *, filename: Any, total_size: Any, total_chunks: Any = None,
                     metadata: Any = None, sha256: Any = None, protocol: str = "chunk",
                     tus_metadata: str | None = None) -> Upload:
        """Open a session after checking every limit, before a single byte is accepted.

        ``total_size`` None (tus only) defers the length: a later PATCH declares it (:meth:`append`), and
        until then ``uploads.max_size`` bounds the bytes accepted. ``tus_metadata`` is the client's raw
        Upload-Metadata header, kept to be given back on HEAD (``metadata`` holds the parsed fields).
        """
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationError("filename is required", code="invalid_filename")
        if total_size is not None or protocol != "tus":
            self._check_total_size(total_size)
        chunk_size: int | None = None
        if protocol == "chunk":
            if not isinstance(total_chunks, int) or isinstance(total_chunks, bool) or total_chunks < 1:
                raise ValidationError("total_chunks must be a positive integer", code="invalid_chunks")
            if total_chunks > self.limits.max_chunks:
                raise ValidationError(f"total_chunks may be at most {self.limits.max_chunks}",
                                      code="invalid_chunks")
            chunk_size = math.ceil(total_size / total_chunks)
            if chunk_size > self.limits.max_chunk_size:
                need = math.ceil(total_size / self.limits.max_chunk_size)
                raise TooLarge(f"chunks of {chunk_size} bytes exceed the limit of {self.limits.max_chunk_size}; "
                               f"use at least {need} chunks", code="chunk_too_large")
            if chunk_size * (total_chunks - 1) >= total_size:
                raise ValidationError("total_chunks does not split total_size into non-empty chunks of "
                                      "ceil(total_size / total_chunks) bytes", code="invalid_chunks")
        else:
            total_chunks = 1
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise ValidationError("metadata must be an object", code="invalid_metadata")
        cleaned = clean_fields(metadata, partial=True)  # unknown keys (path, owner_id, status) are dropped
        cleaned.update(await self._episode_of(metadata))
        expected = parse_sha256(sha256, header="sha256") if sha256 is not None else None
        await self._check_disk(total_size or 0)

        token = secrets.token_urlsafe(24)  # 192 random bits: the folder name and the tus URL
        now = self.clock()
        # Row first, folder second: the cleanup task never finds a folder without a row, except one left
        # by a crash (which it removes once it is old).
        upload = await repos_of(self.db).uploads.create({
            "user_id": user.id, "filename": display_filename(filename), "total_size": total_size,
            "total_chunks": total_chunks, "uploaded_chunks": [], "status": "pending", "token": token,
            "protocol": protocol, "metadata": cleaned, "chunk_size": chunk_size, "bytes_received": 0,
            "expected_sha256": expected, "created_at": now, "updated_at": now,
            "expires_at": now + self.expire_after, "tus_metadata": tus_metadata if protocol == "tus" else None,
        })
        try:
            await self.store.create_folder(token)
        except BaseException:
            await repos_of(self.db).uploads.delete(upload.id)
            raise
        self.events.publish("upload.created", upload_id=upload.id, user_id=user.id, filename=upload.filename,
                            total_size=total_size, protocol=protocol)
        log.info("upload %d created by user %d: %s via %s", upload.id, user.id,
                 "length deferred" if total_size is None else f"{total_size} bytes", protocol)
        return upload

    def _check_total_size(self, total_size: Any) -> None:
        if not isinstance(total_size, int) or isinstance(total_size, bool) or total_size < 1:
            raise ValidationError("total_size must be a positive integer (bytes)", code="invalid_size")
        if total_size > self.limits.max_size:
            raise TooLarge(f"uploads may be at most {self.limits.max_size} bytes", code="upload_too_large")

    async def _check_disk(self, total_size: int) -> None:
        reserved = await repos_of(self.db).uploads.outstanding_bytes(OPEN)
        needed = total_size + reserved + int(self.limits.free_space_margin)
        free = await asyncio.to_thread(self.store.free_bytes)
        if free < needed:
            raise InsufficientStorage(
                f"not enough disk space for this upload: {free} bytes free, {needed} needed "
                f"(size + {reserved} reserved by unfinished uploads + uploads.free_space_margin)",
                code="insufficient_storage")

    async def get(self, user: User, upload_id: int, *, allow_admin: bool = True) -> Upload:
        """The caller's session; someone else's is reported exactly like a missing one (404)."""
        upload = await repos_of(self.db).uploads.find_by_id(upload_id)
        if upload is None or (upload.user_id != user.id and not (allow_admin and user.role == "admin")):
            raise NotFound("upload not found", code="upload_not_found")
        return upload

    async def get_by_token(self, user: User, token: str) -> Upload:
        upload = await repos_of(self.db).uploads.find_by_token(token) if len(token) <= 64 else None
        if upload is None or upload.user_id != user.id or upload.protocol != "tus":
            raise NotFound("upload not found", code="upload_not_found")
        return upload

    async def settled_tus(self, user: User, token: str) -> Upload:
        """A tus upload as a new request about it must see it: a PATCH still in flight for it (its client
        resumed, so it gave up on that request) is stopped first and what it received is recorded, so the
        offset is final. Without this a resume right after a dropped connection raced the server noticing
        the drop: HEAD gave an offset the old PATCH then moved, or the new PATCH found the upload busy."""
        upload = await self.get_by_token(user, token)
        if await self.inflight.supersede(upload.id, TUS_STREAM, wait_seconds=self.supersede_seconds):
            upload = await self.get_by_token(user, token)
        return upload

    def view(self, upload: Upload) -> dict[str, Any]:
        """What GET /api/uploads/{id} shows: verified parts, bytes (with those in flight) and progress."""
        in_flight = self.inflight.bytes_in_flight(upload.id) if upload.status in RECEIVING else 0
        received = upload.bytes_received + in_flight
        if upload.total_size is not None:
            received = min(upload.total_size, received)
        return {
            "id": upload.id, "status": upload.status, "protocol": upload.protocol, "filename": upload.filename,
            "total_size": upload.total_size, "total_chunks": upload.total_chunks, "chunk_size": upload.chunk_size,
            "uploaded_chunks": upload.uploaded_chunks, "bytes_received": received,
            "bytes_verified": upload.bytes_received, "bytes_in_flight": in_flight,
            "chunks_in_flight": self.inflight.parts_in_flight(upload.id),
            "length_deferred": upload.total_size is None,
            "progress": percent(received, upload.total_size), "metadata": upload.metadata,
            "sha256": upload.expected_sha256, "video_id": upload.video_id, "error": upload.error_message,
            "created_at": iso(upload.created_at), "updated_at": iso(upload.updated_at),
            "expires_at": iso(upload.expires_at) if upload.status in OPEN else None,
            "completed_at": iso(upload.completed_at),
        }

    async def list_for_user(self, user: User, *, limit: int = 100) -> list[dict[str, Any]]:
        """The caller's sessions, newest first: how a client that lost its state finds what to resume."""
        uploads = await repos_of(self.db).uploads.list({"user_id": user.id}, order_by="id DESC", limit=limit)
        return [self.view(upload) for upload in uploads]

    async def list_active(self) -> list[dict[str, Any]]:
        """Unfinished sessions with their owner and live progress (for the admin API and dashboard)."""
        rows = await repos_of(self.db).uploads.list_with_usernames(OPEN)
        return [{**self.view(upload), "user_id": upload.user_id, "username": username} for upload, username in rows]

    @staticmethod
    def require_receiving(upload: Upload) -> None:
        """Refuse parts for a session that no longer takes them, saying why."""
        if upload.status in RECEIVING:
            return
        if upload.status == "completed":
            raise Conflict("this upload is already completed", code="upload_completed",
                           details={"video_id": upload.video_id})
        if upload.status == "assembling":
            raise Conflict("this upload is being assembled; it takes no more data", code="upload_assembling")
        if upload.status in ENDED:
            code, message = ENDED[upload.status]
            raise Gone(message, code=code)
        raise Conflict(f"this upload failed: {upload.error_message or 'unknown error'}", code="upload_failed")

    @staticmethod
    def require_live(upload: Upload) -> None:
        """tus: a terminated, expired or failed upload is gone (410); a completed one still answers HEAD."""
        if upload.status in ENDED:
            code, message = ENDED[upload.status]
            raise Gone(message, code=code)
        if upload.status == "failed":
            raise Gone(upload.error_message or "this upload failed", code="upload_failed")

    # ---- parts ----------------------------------------------------------------------------------------
    def expected_chunk_size(self, upload: Upload, number: int) -> int:
        assert upload.chunk_size is not None
        if number == upload.total_chunks - 1:
            return upload.total_size - upload.chunk_size * (upload.total_chunks - 1)
        return upload.chunk_size

    async def put_chunk(self, user: User, upload_id: int, number: int, body: AsyncIterator[bytes], *,
                        sha256: str, content_length: int | None) -> ChunkResult:
        """Chunk API: receive chunk ``number`` of a session, verify it against ``sha256``, record it."""
        upload = await self.get(user, upload_id, allow_admin=False)
        if upload.protocol != "chunk":
            raise Conflict("this is a tus upload; send its bytes with PATCH /api/tus/...", code="wrong_protocol")
        self.require_receiving(upload)
        if number >= upload.total_chunks:
            raise ValidationError(f"chunk number must be below total_chunks ({upload.total_chunks})",
                                  code="chunk_out_of_range")
        expected = self.expected_chunk_size(upload, number)
        if content_length is not None:
            if content_length > self.limits.max_chunk_size:
                raise TooLarge(f"a chunk may be at most {self.limits.max_chunk_size} bytes", code="chunk_too_large")
            if content_length != expected:
                raise ValidationError(f"chunk {number} must be exactly {expected} bytes (got {content_length})",
                                      code="chunk_size_mismatch")
        existing = await repos_of(self.db).upload_chunks.find_chunk(upload.id, number)
        if existing is not None and existing.status == "verified":
            if same_digest(existing.checksum, sha256):
                return ChunkResult(upload, stored=False)
            chunk_conflict(number)
        if not self.inflight.claim(upload.id, number, verified=upload.bytes_received, total=upload.total_size):
            raise Conflict(f"chunk {number} is being uploaded by another request", code="chunk_in_progress")
        try:
            try:
                part = await self._receive(upload, number, body, limit=expected)
            except BodyTooLong:
                raise ValidationError(f"chunk {number} is longer than {expected} bytes",
                                      code="chunk_size_mismatch") from None
            except StreamInterrupted:
                raise ValidationError(f"the body of chunk {number} ended early; nothing was kept",
                                      code="incomplete_body") from None
            if part.size != expected:
                await self.store.discard(part)
                raise ValidationError(f"chunk {number} must be exactly {expected} bytes (got {part.size})",
                                      code="chunk_size_mismatch")
            if not same_digest(part.sha256, sha256):
                await self.store.discard(part)
                raise ChecksumMismatch(f"chunk {number} does not match its X-Chunk-SHA256; nothing was kept")
            return await self._record(upload, number, part)
        finally:
            self.inflight.release(upload.id, number)

    async def _receive(self, upload: Upload, key: PartKey, body: AsyncIterator[bytes], **options: Any
                       ) -> ReceivedPart:
        for attempt in (1, 2):
            try:
                return await self.store.receive(upload.token, body, **options,
                                                on_bytes=lambda n: self.inflight.add(upload.id, key, n))
            except FileNotFoundError:  # the folder is gone (checked before any byte is read)
                await self._raise_if_closed(upload.id)  # aborted or expired meanwhile: say so
                if attempt == 2:
                    raise
                await self.store.create_folder(upload.token)  # lost to a crash right after creation
        raise AssertionError("unreachable")

    async def _record(self, upload: Upload, number: int, part: ReceivedPart, *,
                      tus_offset: int | None = None, in_place: bool = False) -> ChunkResult:
        """Make a verified part durable under its final name, then record it with the session's totals.

        ``in_place``: a tus body already durable in the upload's data file (its checksum is the SHA-256 of
        the file up to its end); there is nothing to rename, and nothing to delete if recording fails.
        """
        target = self.store.part_path(upload.token, number, part.sha256)
        try:
            if not in_place:
                await self.store.publish(part, target)
        except FileNotFoundError:  # the folder went away: aborted or expired meanwhile
            await self.store.discard(part)
            await self._raise_if_closed(upload.id)
            raise
        except BaseException:
            await self.store.discard(part)
            raise
        now = self.clock()
        try:
            async with self.db.transaction() as tx:
                row = await repos_of(tx).uploads.lock(upload.id)
                if row is None:
                    raise NotFound("upload not found", code="upload_not_found")
                self.require_receiving(row)  # a stale request never undoes an abort or expiry
                existing = await repos_of(tx).upload_chunks.find_chunk(upload.id, number)
                if existing is not None and existing.status == "verified":
                    if same_digest(existing.checksum, part.sha256):
                        return ChunkResult(row, stored=False)
                    chunk_conflict(number)
                if tus_offset is not None and row.bytes_received != tus_offset:
                    raise Conflict("the upload moved on meanwhile", code="offset_mismatch",
                                   details={"offset": row.bytes_received})
                if row.total_size is not None and row.bytes_received + part.size > row.total_size:
                    raise TooLarge("the body goes past Upload-Length; nothing of this request was kept",
                                   code="exceeds_upload_length", details={"offset": row.bytes_received})
                if existing is not None:  # a row left in another status: replace it
                    await repos_of(tx).upload_chunks.delete(existing.id)
                await repos_of(tx).upload_chunks.create({
                    "upload_id": upload.id, "chunk_number": number, "chunk_size": part.size,
                    "checksum": part.sha256, "status": "verified", "uploaded_at": now, "verified_at": now,
                })
                chunks = sorted({*row.uploaded_chunks, number})
                changes: dict[str, Any] = {
                    "uploaded_chunks": chunks, "bytes_received": row.bytes_received + part.size,
                    "status": "uploading", "updated_at": now, "expires_at": now + self.expire_after,
                }
                if row.protocol == "tus":
                    changes["total_chunks"] = max(1, len(chunks))
                updated = await repos_of(tx).uploads.update(upload.id, changes)
                assert updated is not None
        except BaseException:
            # Our file, by its content-addressed name, is not the recorded part unless the record exists
            # with the same checksum (then it is the very same bytes and must stay).
            with contextlib.suppress(Exception):
                recorded = await repos_of(self.db).upload_chunks.find_chunk(upload.id, number)
                if not in_place and (recorded is None or not same_digest(recorded.checksum, part.sha256)):
                    await self.store.delete_part(target)
            raise
        self.inflight.verified(upload.id, updated.bytes_received)
        return ChunkResult(updated, stored=True)

    def _forget(self, upload_id: int) -> None:
        """The upload ended: drop what was kept in memory for it."""
        self.inflight.forget(upload_id)
        self._tus_digests.pop(upload_id, None)

    async def _raise_if_closed(self, upload_id: int) -> None:
        upload = await repos_of(self.db).uploads.find_by_id(upload_id)
        if upload is None:
            raise NotFound("upload not found", code="upload_not_found")
        self.require_receiving(upload)
