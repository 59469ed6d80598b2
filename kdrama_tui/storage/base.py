"""The storage interface used by uploads, the media pipeline, streaming and backups.

Keys are relative, slash-separated names such as ``videos/12/hls/720p/seg_00003.m4s``. They are made by
the services, never from user input, and are still checked (:func:`validate_key`) so that no provider can
be led outside its root.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kdrama_tui.errors import DomainError, ValidationError

_SEGMENT = re.compile(r"^[A-Za-z0-9._\-]+$")


class InvalidKey(ValidationError, ValueError):
    """A key that could lead outside a provider's root (still a ValueError for older callers)."""

    code = "invalid_storage_key"


class StorageError(DomainError):
    """A provider failed; the message says which and why, never a driver traceback."""

    code = "storage_error"
    status = 502


class StorageAuthError(StorageError):
    code = "storage_auth_failed"


class StorageBucketMissing(StorageError):
    code = "storage_bucket_missing"


class StorageUnavailable(StorageError):
    code = "storage_unavailable"
    status = 503


def validate_key(key: str) -> str:
    """Refuse keys that are absolute, climb out (``..``), hold NUL/backslashes or odd characters."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid storage key {key!r}")
    for part in key.split("/"):
        if part in ("", ".", "..") or not _SEGMENT.match(part):
            raise InvalidKey(f"invalid storage key {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty (everything) or a valid key, optionally ending in ``/``."""
    if prefix in ("", "/"):
        return ""
    validate_key(prefix.removesuffix("/"))
    return prefix


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class Storage(ABC):
    """One provider. ``provider`` is the value recorded in ``video_files.storage_provider``."""

    provider: str

    @abstractmethod
    async def put_file(self, key: str, source: Path, *, move: bool = False, sha256: str | None = None
                       ) -> StoredObject:
        """Store a local file under ``key`` atomically (readers never see a partial object).

        ``move`` lets a provider take the file instead of copying it (a rename on local disk). ``sha256``
        is the file's digest when the caller computed it as the file was written: a provider that would
        read the file only to hash it (a local rename) may take it instead.
        """

    @abstractmethod
    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        """Store bytes as they arrive, atomically, without holding them all in memory."""

    @abstractmethod
    def read(self, key: str, start: int = 0, end: int | None = None,
             chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Yield the bytes ``[start, end)`` of an object (the whole object by default).

        ``end`` is exclusive and clipped to the object's size; a start at or past the end yields nothing.
        A missing object raises FileNotFoundError. Stopping early (``aclose()``) releases the connection.
        """

    @abstractmethod
    async def get_to_file(self, key: str, destination: Path) -> None:
        """Copy an object to a local file (ffmpeg input, restore), atomically (temp + fsync + rename).

        A missing object raises FileNotFoundError.
        """

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""

    async def delete_many(self, keys: list[str]) -> None:
        """Remove several objects (batched where the provider can); missing ones are not an error."""
        for key in keys:
            await self.delete(key)

    async def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in await self.list(prefix):
            await self.delete(key)
            count += 1
        return count

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def size(self, key: str) -> int:
        """Size in bytes; raises FileNotFoundError for a missing object."""

    @abstractmethod
    async def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (a folder-like prefix, e.g. ``videos/12/``)."""

    async def check(self) -> None:
        """Raise a clear StorageError if the provider cannot be used (credentials, bucket); cheap."""
        return None

    async def iter_objects(self, prefix: str = "") -> AsyncIterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``."""
        for key in await self.list(prefix):
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                yield key, await self.size(key)

    async def modified(self, key: str) -> datetime:
        """When the object was last written (aware UTC); raises FileNotFoundError for a missing object."""
        path = self.local_path(key)
        if path is None:
            raise NotImplementedError(f"{type(self).__name__} does not report modification times")
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def local_path(self, key: str) -> Path | None:
        """The file on local disk, where there is one (sendfile, ffmpeg input); None for remote storage."""
        return None

    async def url(self, key: str, expires_seconds: int) -> str | None:
        """A short-lived direct URL (presigned S3 GET), or None when objects are served through the app."""
        return None

    async def close(self) -> None:
        return None
