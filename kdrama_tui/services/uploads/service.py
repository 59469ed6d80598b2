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
import hmac
import logging
import math
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db import Database, Executor
from kdrama_tui.errors import Conflict, DomainError, InsufficientStorage, NotFound, TooLarge, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import Upload, User, Video, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.library.handoff import Library, display_filename
from kdrama_tui.services.library.metadata import clean_fields, parse_metadata
from kdrama_tui.services.series.fields import clean_upload_episode
from kdrama_tui.services.series.placement import place, upload_guess
from kdrama_tui.services.uploads.chunkstore import (
    AssemblyError,
    BodyTooLong,
    ChunkStore,
    PartRef,
    ReceivedPart,
    StreamInterrupted,
)
from kdrama_tui.services.uploads.progress import InflightTracker, PartKey, percent

log = logging.getLogger(__name__)

RECEIVING = ("pending", "uploading")  # parts are accepted
OPEN = ("pending", "uploading", "assembling")  # not finished: listed as active, bytes kept, disk reserved
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK_NUMBER = re.compile(r"^[0-9]{1,9}$")
TUS_STREAM: PartKey = "tus"


class Gone(DomainError):
    code = "gone"
    status = 410


class ChecksumMismatch(DomainError):
    code = "checksum_mismatch"
    status = 422


@dataclass(frozen=True)
class ChunkResult:
    upload: Upload
    stored: bool  # False: the same bytes were already verified (no-op)


def parse_chunk_number(raw: str) -> int:
    """A chunk number from the URL: plain decimal digits only (``-1``, ``1e309``, ``abc`` are refused)."""
    if not raw.isascii() or not _CHUNK_NUMBER.match(raw):
        raise ValidationError(f"chunk number must be a non-negative integer (got {raw[:40]!r})",
                              code="invalid_chunk_number")
    return int(raw)


def parse_sha256(value: str | None, *, header: str = "X-Chunk-SHA256") -> str:
    if value is None or not value.strip():
        raise ValidationError(f"the {header} header is required (64 hex digits)", code="checksum_required")
    value = value.strip()
    if not _SHA256_HEX.match(value):
        raise ValidationError(f"{header} must be 64 hex digits", code="invalid_checksum")
    return value.lower()


class UploadService:
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

    @property
    def expire_after(self) -> timedelta:
        return timedelta(hours=self.limits.expire_hours)

    # ---- sessions -------------------------------------------------------------------------------------
    async def create(self, user: User, *, filename: Any, total_size: Any, total_chunks: Any = None,
                     metadata: Any = None, sha256: Any = None, protocol: str = "chunk") -> Upload:
        """Open a session after checking every limit, before a single byte is accepted.

        ``total_size`` None (tus only) defers the length: a later PATCH declares it (:meth:`append`), and
        until then ``uploads.max_size`` bounds the bytes accepted.
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
            "expires_at": now + self.expire_after,
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
            "created_at": _iso(upload.created_at), "updated_at": _iso(upload.updated_at),
            "expires_at": _iso(upload.expires_at) if upload.status in OPEN else None,
            "completed_at": _iso(upload.completed_at),
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
        if upload.status == "aborted":
            raise Gone("this upload was aborted", code="upload_aborted")
        if upload.status == "expired":
            raise Gone("this upload expired and its data was deleted", code="upload_expired")
        raise Conflict(f"this upload failed: {upload.error_message or 'unknown error'}", code="upload_failed")

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
            return ChunkResult(upload, stored=False) if _same(existing.checksum, sha256) else _chunk_conflict(number)
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
            if not _same(part.sha256, sha256):
                await self.store.discard(part)
                raise ChecksumMismatch(f"chunk {number} does not match its X-Chunk-SHA256; nothing was kept")
            return await self._record(upload, number, part)
        finally:
            self.inflight.release(upload.id, number)

    async def append(self, user: User, token: str, *, offset: int, body: AsyncIterator[bytes],
                     content_length: int | None, checksum: tuple[str, bytes] | None,
                     upload_length: int | None = None) -> Upload:
        """tus PATCH: add the body at ``offset``; completes the upload when the last byte arrives.

        Without a checksum an interrupted body is kept up to where it stopped (the client resumes from
        there); with one, a mismatch or an interruption keeps nothing of the request. ``upload_length``
        declares a deferred length (once; repeating the same value is a harmless retry).
        """
        upload = await self.get_by_token(user, token)
        self.require_receiving(upload)
        if offset != upload.bytes_received:
            raise Conflict(f"Upload-Offset {offset} does not match the upload's offset {upload.bytes_received}",
                           code="offset_mismatch", details={"offset": upload.bytes_received})
        # Claimed first: a length declared by a PATCH that is then refused as busy must not change the
        # upload under the PATCH that is streaming.
        if not self.inflight.claim(upload.id, TUS_STREAM, verified=upload.bytes_received, total=upload.total_size):
            raise Conflict("another PATCH for this upload is in progress", code="upload_busy")
        try:
            upload = await self._patch_claimed(upload, offset, body, content_length, checksum, upload_length)
        finally:
            self.inflight.release(upload.id, TUS_STREAM)
        if upload.total_size is not None and upload.bytes_received == upload.total_size:
            upload = await self.complete(user, upload.id)
        return upload

    async def _patch_claimed(self, upload: Upload, offset: int, body: AsyncIterator[bytes],
                             content_length: int | None, checksum: tuple[str, bytes] | None,
                             upload_length: int | None) -> Upload:
        if upload_length is not None:
            upload = await self.declare_length(upload, upload_length)
        deferred = upload.total_size is None
        # While the length is unknown, uploads.max_size is the only bound on what may still arrive.
        remaining = (self.limits.max_size if deferred else upload.total_size) - offset
        past_end = (f"the upload may be at most {self.limits.max_size} bytes (uploads.max_size)" if deferred
                    else "the body goes past Upload-Length")
        past_code = "upload_too_large" if deferred else "exceeds_upload_length"
        if content_length is not None:
            if content_length > self.limits.max_chunk_size:
                raise TooLarge(f"a PATCH body may be at most {self.limits.max_chunk_size} bytes",
                               code="chunk_too_large")
            if content_length > remaining:
                raise TooLarge(f"{past_end} ({remaining} bytes remain)", code=past_code,
                               details={"offset": upload.bytes_received})
        if len(upload.uploaded_chunks) >= self.limits.max_chunks and remaining > 0:
            raise TooLarge(f"this upload already has {self.limits.max_chunks} parts; send larger PATCH bodies",
                           code="too_many_parts")
        if deferred:
            # Nothing was reserved for it at creation: each body must fit beside what others reserved.
            await self._check_disk(min(remaining, self.limits.max_chunk_size) if content_length is None
                                   else content_length)
        algorithm = checksum[0] if checksum else "sha256"
        try:
            part = await self._receive(upload, TUS_STREAM, body, limit=min(remaining, self.limits.max_chunk_size),
                                       algorithms=(algorithm,), keep_partial=checksum is None)
        except BodyTooLong:
            raise TooLarge(f"{past_end} or uploads.max_chunk_size; nothing of this request was kept",
                           code=past_code, details={"offset": upload.bytes_received}) from None
        except StreamInterrupted:
            raise ValidationError("the body ended early; with Upload-Checksum nothing of it was kept",
                                  code="incomplete_body") from None
        if checksum is not None and not hmac.compare_digest(part.digests[algorithm], checksum[1]):
            await self.store.discard(part)
            raise ChecksumMismatch("the body does not match Upload-Checksum; nothing was kept", status=460)
        if part.size == 0:
            await self.store.discard(part)
            return upload
        number = max(upload.uploaded_chunks) + 1 if upload.uploaded_chunks else 0
        return (await self._record(upload, number, part, tus_offset=offset)).upload

    async def declare_length(self, upload: Upload, length: int) -> Upload:
        """tus creation-defer-length: fix a deferred upload's length, once and for all.

        The same length again is a retry (its first answer was lost) and changes nothing; a different one,
        or one shorter than what has already arrived, is refused.
        """
        if upload.total_size is not None:
            if length == upload.total_size:
                return upload
            raise Conflict(f"this upload's length is already {upload.total_size} bytes; it cannot change",
                           code="upload_length_fixed", details={"offset": upload.bytes_received})
        self._check_total_size(length)
        if length < upload.bytes_received:
            raise Conflict(f"Upload-Length {length} is less than the {upload.bytes_received} bytes already "
                           "received", code="upload_length_too_small", details={"offset": upload.bytes_received})
        await self._check_disk(length - upload.bytes_received)
        async with self.db.transaction() as tx:
            row = await repos_of(tx).uploads.lock(upload.id)
            if row is None:
                raise NotFound("upload not found", code="upload_not_found")
            self.require_receiving(row)
            if row.total_size is not None:  # a concurrent request declared it first
                if row.total_size != length:
                    raise Conflict(f"this upload's length is already {row.total_size} bytes; it cannot change",
                                   code="upload_length_fixed", details={"offset": row.bytes_received})
                return row
            if length < row.bytes_received:
                raise Conflict(f"Upload-Length {length} is less than the {row.bytes_received} bytes already "
                               "received", code="upload_length_too_small", details={"offset": row.bytes_received})
            updated = await repos_of(tx).uploads.update(upload.id, {"total_size": length, "updated_at": self.clock()})
            assert updated is not None
        self.inflight.set_total(upload.id, length)
        log.info("upload %d declared its length: %d bytes", upload.id, length)
        return updated

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
                      tus_offset: int | None = None) -> ChunkResult:
        """Make a verified part durable under its final name, then record it with the session's totals."""
        target = self.store.part_path(upload.token, number, part.sha256)
        try:
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
                    if _same(existing.checksum, part.sha256):
                        return ChunkResult(row, stored=False)
                    _chunk_conflict(number)
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
                if recorded is None or not _same(recorded.checksum, part.sha256):
                    await self.store.delete_part(target)
            raise
        self.inflight.verified(upload.id, updated.bytes_received)
        return ChunkResult(updated, stored=True)

    async def _raise_if_closed(self, upload_id: int) -> None:
        upload = await repos_of(self.db).uploads.find_by_id(upload_id)
        if upload is None:
            raise NotFound("upload not found", code="upload_not_found")
        self.require_receiving(upload)

    # ---- completion -----------------------------------------------------------------------------------
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
        try:
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
                expected_sha256=upload.expected_sha256, move=True, in_transaction=mark_completed)
        except ValidationError as exc:  # the file itself is wrong (e.g. its SHA-256): final
            await self._fail(upload, exc.message)
            if exc.code == "checksum_mismatch":
                raise ChecksumMismatch(exc.message) from exc
            raise
        await self.store.remove(upload.token)
        self.inflight.forget(upload.id)
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
        self.inflight.forget(upload.id)
        self.events.publish("upload.failed", upload_id=upload.id, user_id=upload.user_id, error=reason)
        log.warning("upload %d failed: %s", upload.id, reason)

    # ---- ending ---------------------------------------------------------------------------------------
    async def abort(self, user: User, upload_id: int) -> Upload:
        """DELETE: stop a session and remove its bytes (idempotent for sessions already ended)."""
        upload = await self.get(user, upload_id)
        return await self._abort(upload)

    async def abort_tus(self, user: User, token: str) -> Upload:
        return await self._abort(await self.get_by_token(user, token))

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
        self.inflight.forget(upload.id)
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
            self.inflight.forget(upload.id)
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
            if upload is not None or _age_seconds(folder) > self.limits.expire_hours * 3600:
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


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower(), b.lower())


def _chunk_conflict(number: int) -> Any:
    raise Conflict(f"chunk {number} was already received with a different checksum; the original is kept",
                   code="chunk_conflict")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _age_seconds(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
