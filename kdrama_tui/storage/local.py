"""Local-disk storage under one root folder.

Writes go to a temp file beside the target, are fsynced and renamed into place. Every key is resolved
strictly inside the root: ``..``, absolute keys and symlinks that lead out are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from kdrama_tui.fsutil import atomic_write_stream, fsync_dir, temp_path_for
from kdrama_tui.storage.base import InvalidKey, Storage, StoredObject, validate_key, validate_prefix

_COPY_BUFFER = 8 * 1024 * 1024


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(_COPY_BUFFER):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, target.open("xb") as dst:
        while block := src.read(_COPY_BUFFER):
            digest.update(block)
            dst.write(block)
            size += len(block)
        dst.flush()
        os.fsync(dst.fileno())
    return size, digest.hexdigest()


class LocalStorage(Storage):
    provider = "local"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def path_for(self, key: str) -> Path:
        """The path of ``key`` inside the root; raises ValueError for anything that would leave it."""
        validate_key(key)
        path = self.root / key
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise InvalidKey(f"storage key {key!r} leads outside the storage root")
        return path

    def local_path(self, key: str) -> Path | None:
        return self.path_for(key)

    async def put_file(self, key: str, source: Path, *, move: bool = False, sha256: str | None = None
                       ) -> StoredObject:
        target = self.path_for(key)
        return await asyncio.to_thread(self._put_file, key, source, target, move, sha256)

    def _put_file(self, key: str, source: Path, target: Path, move: bool, known: str | None = None) -> StoredObject:
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                size, sha = (source.stat().st_size, known) if known else _hash_file(source)
                os.replace(source, target)  # same filesystem: atomic, no copy
                fsync_dir(target.parent)
                return StoredObject(key, size, sha)
            except OSError as exc:
                if exc.errno != 18:  # EXDEV: another filesystem, fall back to copying
                    raise
        tmp = temp_path_for(target)
        try:
            size, sha = _copy_hashed(source, tmp)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if move:
            source.unlink()
        return StoredObject(key, size, sha)

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> StoredObject:
        size, sha256 = await atomic_write_stream(self.path_for(key), chunks)
        return StoredObject(key, size, sha256)

    async def read(self, key: str, start: int = 0, end: int | None = None,
                   chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        with path.open("rb") as f:
            f.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                block = await asyncio.to_thread(f.read, want)
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                yield block

    async def get_to_file(self, key: str, destination: Path) -> None:
        source = self.path_for(key)
        await asyncio.to_thread(self._get_to_file, source, destination)

    @staticmethod
    def _get_to_file(source: Path, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path_for(destination)
        try:
            _copy_hashed(source, tmp)
            os.replace(tmp, destination)
            fsync_dir(destination.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(key).unlink()

    async def delete_prefix(self, prefix: str) -> int:
        count = len(await self.list(prefix))
        folder = self.path_for(prefix.rstrip("/"))
        if folder.is_dir():
            await asyncio.to_thread(shutil.rmtree, folder, True)
        elif not prefix.endswith("/"):  # "a/b/" names a folder: if it is not there, nothing is left to delete
            await self.delete(prefix)
        return count

    async def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    async def size(self, key: str) -> int:
        return self.path_for(key).stat().st_size

    async def list(self, prefix: str = "") -> list[str]:
        prefix = validate_prefix(prefix)
        base = self.path_for(prefix.rstrip("/")) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []

        def walk() -> list[str]:
            keys = []
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    if name.startswith(".") and name.endswith(".tmp"):
                        continue  # an unfinished write
                    keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
            return sorted(keys)

        return await asyncio.to_thread(walk)
