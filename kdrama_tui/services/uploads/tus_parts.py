"""tus PATCH bodies: appended in place to the upload's one data file, claimed so one request writes at a time.

A part of :class:`~kdrama_tui.services.uploads.service.UploadService` (a mixin using its state).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable

from kdrama_tui.errors import Conflict, NotFound, TooLarge, ValidationError
from kdrama_tui.models import Upload, User
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.uploads import tusfile
from kdrama_tui.services.uploads.chunkstore import (
    BodyTooLong,
    ReceivedPart,
    StreamInterrupted,
)
from kdrama_tui.services.uploads.states import (
    TUS_STREAM,
    ChecksumMismatch,
)

log = logging.getLogger(__name__)


class TusAppends:
    """How a tus upload receives its bytes."""

    async def append(self, user: User, token: str, *, offset: int, body: AsyncIterator[bytes],
                     content_length: int | None, checksum: tuple[str, bytes] | None,
                     upload_length: int | None = None, stop: Callable[[], None] | None = None) -> Upload:
        """tus PATCH: add the body at ``offset``; completes the upload when the last byte arrives.

        Without a checksum an interrupted body is kept up to where it stopped (the client resumes from
        there); with one, a mismatch or an interruption keeps nothing of the request. ``upload_length``
        declares a deferred length (once; repeating the same value is a harmless retry). ``stop`` ends
        this request's body early when a later request about the upload supersedes it.
        """
        upload = await self.settled_tus(user, token)  # the one read of the row before the part is recorded
        self.require_live(upload)
        if upload.status in ("completed", "assembling") and offset == upload.total_size and content_length == 0:
            # An empty PATCH at the final offset: a client that lost the answer to its last PATCH (it crashed,
            # or the connection dropped while the upload was assembled) resumes this way. It gets the
            # outcome, after waiting for an assembly in progress, instead of a conflict.
            return await self.complete(user, upload.id)
        self.require_receiving(upload)
        if offset != upload.bytes_received:
            raise Conflict(f"Upload-Offset {offset} does not match the upload's offset {upload.bytes_received}",
                           code="offset_mismatch", details={"offset": upload.bytes_received})
        # Claimed first: a length declared by a PATCH that is then refused as busy must not change the
        # upload under the PATCH that is streaming.
        if not self.inflight.claim(upload.id, TUS_STREAM, verified=upload.bytes_received, total=upload.total_size,
                                   stop=stop):
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
        limit = min(remaining, self.limits.max_chunk_size)
        folder = self.store.folder(upload.token)
        if offset == 0 or await tusfile.has_data(folder):
            return await self._append_in_place(upload, offset, body, checksum, limit, past_end, past_code)
        # An upload begun before tus PATCHes were written in place: its parts stay parts until it ends.
        algorithm = checksum[0] if checksum else "sha256"
        try:
            part = await self._receive(upload, TUS_STREAM, body, limit=limit,
                                       algorithms=(algorithm,), keep_partial=checksum is None)
        except BodyTooLong:
            raise TooLarge(f"{past_end} or uploads.max_chunk_size; nothing of this request was kept",
                           code=past_code, details={"offset": upload.bytes_received}) from None
        except StreamInterrupted:
            raise ValidationError("the body ended early; with Upload-Checksum nothing of it was kept",
                                  code="incomplete_body") from None
        if checksum is not None and not hmac.compare_digest(part.digests[algorithm], checksum[1]):
            await self.store.discard(part)
            raise ChecksumMismatch("the body does not match Upload-Checksum; nothing was kept")
        if part.size == 0:
            await self.store.discard(part)
            return upload
        number = max(upload.uploaded_chunks) + 1 if upload.uploaded_chunks else 0
        return (await self._record(upload, number, part, tus_offset=offset)).upload

    async def _append_in_place(self, upload: Upload, offset: int, body: AsyncIterator[bytes],
                               checksum: tuple[str, bytes] | None, limit: int, past_end: str,
                               past_code: str) -> Upload:
        """A tus PATCH written into the upload's data file at ``offset`` (tusfile.py), then recorded."""
        folder = self.store.folder(upload.token)
        known = self._tus_digests.get(upload.id)
        whole = known[1].copy() if known is not None and known[0] == offset else None
        if whole is None:  # first PATCH, or the process restarted since the last one
            whole = hashlib.sha256() if offset == 0 else await tusfile.hash_prefix(folder, offset)
        try:
            appended = await tusfile.append(
                folder, offset, body, limit=limit, whole=whole, algorithms=(checksum[0],) if checksum else (),
                keep_partial=checksum is None, on_bytes=lambda n: self.inflight.add(upload.id, TUS_STREAM, n))
        except BodyTooLong:
            raise TooLarge(f"{past_end} or uploads.max_chunk_size; nothing of this request was kept",
                           code=past_code, details={"offset": upload.bytes_received}) from None
        except StreamInterrupted:
            raise ValidationError("the body ended early; with Upload-Checksum nothing of it was kept",
                                  code="incomplete_body") from None
        except FileNotFoundError:  # the folder is gone: aborted or expired meanwhile
            await self._raise_if_closed(upload.id)
            raise
        if checksum is not None and not hmac.compare_digest(appended.digests[checksum[0]], checksum[1]):
            await tusfile.discard(folder, offset)
            raise ChecksumMismatch("the body does not match Upload-Checksum; nothing was kept")
        if appended.size == 0:
            return upload
        number = max(upload.uploaded_chunks) + 1 if upload.uploaded_chunks else 0
        part = ReceivedPart(temp=tusfile.data_path(folder), size=appended.size, sha256=appended.whole.hexdigest(),
                            digests=appended.digests)
        recorded = (await self._record(upload, number, part, tus_offset=offset, in_place=True)).upload
        self._tus_digests[upload.id] = (recorded.bytes_received, appended.whole)
        return recorded

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
