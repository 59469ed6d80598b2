"""S3-compatible object storage (AWS, MinIO, Wasabi, IDrive e2, GCS XML API) through aiobotocore.

- Writes stream: bytes are buffered up to one part (``storage.multipart_chunk_size``); a small object is one
  PUT, a larger one a multipart upload that is aborted if anything fails, so no half object and no billed
  orphan parts stay behind. An object becomes visible only when complete.
- Dropped connections are retried twice over: botocore's standard retry mode retries each request, and each
  part (or single PUT) is retried again here with backoff, since a part's bytes are still in memory.
  Reads resume from the last byte received, pinned to the object's ETag.
- Errors reach callers as :class:`StorageError` subclasses with a message that names the bucket and the
  setting to fix (credentials, bucket), or as FileNotFoundError for a missing object, never as botocore
  tracebacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from kdrama_tui.fsutil import atomic_write_stream
from kdrama_tui.storage.base import (
    Storage,
    StorageAuthError,
    StorageBucketMissing,
    StorageError,
    StorageUnavailable,
    StoredObject,
    validate_key,
    validate_prefix,
)
from kdrama_tui.storage.presets import S3Config

log = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidClientTokenId",
               "AuthorizationHeaderMalformed", "InvalidSecurity", "InvalidToken", "ExpiredToken", "403"}
_MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}
_TRANSIENT_CODES = {"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed",
                    "OperationAborted", "500", "502", "503", "504"}
_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".ts": "video/mp2t",
                  ".mp4": "video/mp4", ".vtt": "text/vtt", ".jpg": "image/jpeg", ".png": "image/png"}
_FILE_BLOCK = 1 << 20
# A connection that dropped or stalled; aiohttp's payload errors escape aiobotocore's wrapping on reads.
_BROKEN_TRANSFER = (BotoConnectionError, HTTPClientError, IncompleteReadError, aiohttp.ClientError, TimeoutError)


def content_type_for(key: str) -> str:
    """Media types that players need when they fetch objects directly (presigned delivery)."""
    ext = os.path.splitext(key)[1].lower()
    return _CONTENT_TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def _error_code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {}) or {}
    status = int((exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode") or 0)
    return str(error.get("Code", "") or status), status


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the connection dropped or timed out, or the server said it was overloaded."""
    if isinstance(exc, _BROKEN_TRANSFER):
        return True
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        return code in _TRANSIENT_CODES or status >= 500
    return False


class S3Storage(Storage):
    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.provider = config.provider
        self.bucket = config.bucket
        self.page_size = 1000  # keys per list request (S3's maximum)
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._client_lock: asyncio.Lock | None = None

    # -- plumbing ---------------------------------------------------------------------------------------

    async def _s3(self) -> Any:
        """The client, created on first use (no network at start-up; a server can start offline)."""
        if self._client is not None:
            return self._client
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self._client is None:
                cfg = self.config
                boto_config = AioConfig(
                    region_name=cfg.region,
                    signature_version="s3v4",
                    retries={"total_max_attempts": cfg.max_attempts, "mode": "standard"},
                    connect_timeout=cfg.connect_timeout,
                    read_timeout=cfg.read_timeout,
                    s3={"addressing_style": cfg.addressing_style},
                    # botocore >= 1.36 adds CRC checksums to every request by default, which many
                    # S3-compatible services (GCS, older MinIO, ...) reject; send them only when required.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=20,
                )
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(get_session().create_client(
                    "s3", endpoint_url=cfg.endpoint_url, region_name=cfg.region,
                    aws_access_key_id=cfg.access_key, aws_secret_access_key=cfg.secret_key, config=boto_config))
                self._stack = stack
        return self._client

    def _translate(self, exc: BaseException, action: str, key: str | None = None) -> BaseException:
        where = self.config.describe()
        if isinstance(exc, ClientError):
            code, status = _error_code(exc)
            message = (exc.response.get("Error", {}) or {}).get("Message") or ""
            if code == "NoSuchBucket":
                return StorageBucketMissing(f"{where} does not exist: create it or fix storage.bucket")
            if key is not None and code in _MISSING_KEY_CODES:
                return FileNotFoundError(2, "no such object", key)
            if code in _AUTH_CODES or status == 403:
                return StorageAuthError(f"{where} refused the credentials ({code}) while trying to {action}: "
                                        "check storage.access_key, storage.secret_key and the key's permissions")
            return StorageError(f"{action} failed on {where}: {code} {message}".rstrip())
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StorageAuthError(f"no credentials for {where}: set storage.access_key and storage.secret_key")
        if isinstance(exc, _BROKEN_TRANSFER):
            return StorageUnavailable(f"cannot reach {where} to {action}: {exc}")
        if isinstance(exc, BotoCoreError):
            return StorageError(f"{action} failed on {where}: {exc}")
        return exc

    async def _call(self, action: str, key: str | None, fn: Callable[[], Awaitable[T]],
                    attempts: int = 1) -> T:
        """Run one S3 request, retried ``attempts`` times on transient failures, errors translated."""
        for attempt in range(1, attempts + 1):
            try:
                return await fn()
            except (TimeoutError, BotoCoreError, ClientError, aiohttp.ClientError) as exc:
                if attempt < attempts and is_transient(exc):
                    delay = min(0.25 * 2 ** (attempt - 1), 4.0)
                    log.warning("%s of %s failed (%s); retry %d/%d in %.2fs", action, key or self.bucket,
                                exc.__class__.__name__, attempt, attempts - 1, delay)
                    await asyncio.sleep(delay)
                    continue
                translated = self._translate(exc, action, key)
                if translated is exc:
                    raise
                raise translated from exc
        raise AssertionError("unreachable")

    # -- writes ------------------------------------------------------------------------------------------

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        validate_key(key)
        s3 = await self._s3()
        part_size = self.config.multipart_chunk_size
        attempts = self.config.part_attempts
        digest, size = hashlib.sha256(), 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        content_type = content_type_for(key)

        async def send_part(data: bytes) -> None:
            number = len(parts) + 1
            response = await self._call(f"upload part {number}", key, lambda: s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data), attempts)
            parts.append({"PartNumber": number, "ETag": response["ETag"]})

        try:
            async for block in chunks:
                digest.update(block)
                size += len(block)
                buffer += block
                while len(buffer) >= part_size:
                    if upload_id is None:
                        created = await self._call("start a multipart upload", key, lambda: s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type), attempts)
                        upload_id = created["UploadId"]
                    part = bytes(buffer[:part_size])
                    del buffer[:part_size]
                    await send_part(part)
            if upload_id is None:
                body = bytes(buffer)
                await self._call("upload", key, lambda: s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=content_type), attempts)
            else:
                if buffer:
                    await send_part(bytes(buffer))
                await self._call("complete a multipart upload", key, lambda: s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}), attempts)
        except BaseException:
            if upload_id is not None:
                await self._abort(key, upload_id)
            raise
        return StoredObject(key, size, digest.hexdigest())

    async def _abort(self, key: str, upload_id: str) -> None:
        """Drop the parts of a failed upload (they are billed and invisible otherwise)."""
        s3 = await self._s3()
        try:
            await asyncio.shield(s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id))
        except (asyncio.CancelledError, Exception) as exc:  # the original failure matters more
            log.warning("could not abort multipart upload %s of %s: %s (a lifecycle rule cleans it up)",
                        upload_id, key, exc)

    async def put_file(self, key: str, source: Path, *, move: bool = False, sha256: str | None = None
                       ) -> StoredObject:
        validate_key(key)  # sha256 is not needed: the bytes are read (and hashed) to be sent anyway
        block = self.config.multipart_chunk_size

        async def blocks() -> AsyncIterator[bytes]:
            with source.open("rb") as f:
                while data := await asyncio.to_thread(f.read, block):
                    yield data

        stored = await self.put_stream(key, blocks())
        if move:
            source.unlink()
        return stored

    # -- reads -------------------------------------------------------------------------------------------

    async def read(self, key: str, start: int = 0, end: int | None = None,
                   chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        validate_key(key)
        if start < 0 or (end is not None and end <= start):
            return
        s3 = await self._s3()
        position, etag, failures = start, None, 0
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
            if position > 0 or end is not None:
                params["Range"] = f"bytes={position}-{'' if end is None else end - 1}"
            if etag is not None:
                params["IfMatch"] = etag  # a resumed read must continue the same object
            try:
                response = await s3.get_object(**params)
            except ClientError as exc:
                if _error_code(exc)[0] == "InvalidRange":
                    return  # start at or past the end (or an empty object)
                raise self._translate(exc, "read", key) from exc
            except BotoCoreError as exc:
                raise self._translate(exc, "read", key) from exc
            etag = etag or response.get("ETag")
            body = response["Body"]
            try:
                while chunk := await body.read(chunk_size):
                    position += len(chunk)
                    yield chunk
                return
            except _BROKEN_TRANSFER as exc:
                failures += 1
                if failures >= self.config.part_attempts:
                    raise self._translate(exc, "read", key) from exc
                log.warning("read of %s broke at byte %d (%s); resuming", key, position, exc.__class__.__name__)
            finally:
                body.close()

    async def get_to_file(self, key: str, destination: Path) -> None:
        await atomic_write_stream(destination, self.read(key, chunk_size=_FILE_BLOCK * 4))

    async def _head(self, key: str) -> dict[str, Any]:
        validate_key(key)
        s3 = await self._s3()
        return await self._call("look up", key, lambda: s3.head_object(Bucket=self.bucket, Key=key))

    async def exists(self, key: str) -> bool:
        try:
            await self._head(key)
        except FileNotFoundError:
            return False
        return True

    async def size(self, key: str) -> int:
        return int((await self._head(key))["ContentLength"])

    async def modified(self, key: str) -> datetime:
        """S3's LastModified: when the PUT finished, or when a multipart upload was started."""
        value = (await self._head(key))["LastModified"]
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    async def list(self, prefix: str = "") -> list[str]:
        return [key async for key, _size in self.iter_objects(prefix)]

    async def iter_objects(self, prefix: str = "") -> AsyncIterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``, a page (1000 keys) at a time."""
        prefix = validate_prefix(prefix)
        folder = prefix.rstrip("/")
        s3 = await self._s3()
        paginator = s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                   PaginationConfig={"PageSize": self.page_size})
        try:
            async for page in pages:
                for item in page.get("Contents", []) or []:
                    key = item["Key"]
                    # Folder semantics, as on disk: "videos/1" must not match "videos/12/...".
                    if not folder or key == folder or key.startswith(folder + "/"):
                        yield key, int(item.get("Size", 0))
        except (BotoCoreError, ClientError) as exc:
            raise self._translate(exc, "list objects") from exc

    # -- deletes -----------------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        validate_key(key)
        s3 = await self._s3()
        try:
            await self._call("delete", key, lambda: s3.delete_object(Bucket=self.bucket, Key=key), 3)
        except FileNotFoundError:
            return

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise StorageError("refusing to delete every object of the bucket (empty prefix)",
                               code="invalid_storage_key", status=400)
        keys = await self.list(prefix)
        await self.delete_many(keys)
        return len(keys)

    async def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            validate_key(key)
        if not self.config.batch_delete:
            for key in keys:
                await self.delete(key)
            return
        s3 = await self._s3()
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": k} for k in keys[i:i + 1000]]
            response = await self._call("delete objects", None, lambda b=batch: s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": b, "Quiet": True}), 3)
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(f"could not delete {len(errors)} object(s) from {self.config.describe()}, "
                                   f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message', '')}")

    # -- delivery and checks -----------------------------------------------------------------------------

    async def url(self, key: str, expires_seconds: int) -> str | None:
        """A presigned GET URL valid ``expires_seconds`` (computed locally, no request)."""
        validate_key(key)
        s3 = await self._s3()
        try:
            return str(await s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(expires_seconds)))
        except BotoCoreError as exc:
            raise self._translate(exc, "sign a URL", key) from exc

    async def check(self) -> None:
        """HEAD the bucket: a clear error for wrong credentials, a missing bucket or an unreachable endpoint."""
        s3 = await self._s3()
        try:
            await self._call("open the bucket", None, lambda: s3.head_bucket(Bucket=self.bucket))
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _error_code(cause)[0] in ("404", "NoSuchBucket", "NotFound"):
                raise StorageBucketMissing(f"{self.config.describe()} does not exist: create it or fix "
                                           "storage.bucket") from cause
            raise

    async def create_bucket(self) -> None:
        """Create the bucket if it is missing (setup helper; most providers want it made in their console)."""
        s3 = await self._s3()
        try:
            await self.check()
        except StorageBucketMissing:
            params: dict[str, Any] = {"Bucket": self.bucket}
            if self.config.region not in ("us-east-1", "auto"):
                params["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
            await self._call("create the bucket", None, lambda: s3.create_bucket(**params))

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()
