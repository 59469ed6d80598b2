"""A tus upload's bytes in one file, ``<uploads_dir>/<token>/tus.data``, written in place at each PATCH's offset.

tus PATCHes arrive in order, one at a time per upload (the in-flight claim), so they need no part files
to be concatenated at the end: each body is written at its offset, hashed on the way and fsynced before
the database records it. ``uploads.bytes_received`` is the truth; bytes past it (a PATCH that failed, a
crash between the fsync and the commit) are cut off by the next PATCH and by the assembly, which is then a
rename. Besides the PATCH's own Upload-Checksum digest, the whole file's SHA-256 is carried from PATCH to
PATCH (in memory; recomputed from the file after a restart), so the hand-off to the library does not read
the file again.

Uploads begun by a version that stored tus PATCHes as parts keep that layout until they finish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdrama_tui.fsutil import fsync_dir
from kdrama_tui.services.uploads.chunkstore import (
    _IO,
    AssemblyError,
    disk_errors,
    pump,
)

DATA = "tus.data"
_SYNC_FILE_RANGE_WRITE = 2


def _writeback_starter() -> Callable[[int, int, int], None]:
    """Linux's sync_file_range(SYNC_FILE_RANGE_WRITE): start writing a range to disk without waiting, so
    the fsync that ends a PATCH finds most of the body already written instead of all of it (the disk
    works while the network still delivers). Elsewhere a no-op: the fsync alone is just as durable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, length: None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)

    def start(fd: int, offset: int, length: int) -> None:
        call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # advisory: an error changes nothing

    return start


_start_writeback = _writeback_starter()


@dataclass(frozen=True)
class Appended:
    size: int
    digests: dict[str, bytes]  # the body's digests, by the algorithms asked for
    whole: Any  # hashlib sha256 of the file from byte 0 to the end of this body


class _InPlaceWriter:
    """Writes blocks at increasing offsets in the I/O thread, one in flight, hashing as it goes."""

    def __init__(self, path: Path, offset: int, whole: Any, algorithms: Sequence[str]) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            have = os.fstat(self.fd).st_size
            if have < offset:
                raise AssemblyError(f"the upload's data file has {have} bytes, fewer than its offset {offset}")
            os.ftruncate(self.fd, offset)  # whatever a failed request left past the offset goes
        except BaseException:
            os.close(self.fd)
            raise
        self.path = path
        self.created = offset == 0
        self.start = offset
        self.position = offset
        self.whole = whole
        self.hashes = {name: hashlib.new(name) for name in algorithms}
        self.size = 0
        self._pending: concurrent.futures.Future[None] | None = None

    def _write(self, block: bytearray, position: int) -> None:
        self.whole.update(block)
        for digest in self.hashes.values():
            digest.update(block)
        view, start = memoryview(block), position
        while view:
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written
        _start_writeback(self.fd, start, len(block))

    async def write(self, block: bytearray) -> None:
        await self.drain()
        self._pending = _IO.submit(self._write, block, self.position)
        self.position += len(block)
        self.size += len(block)

    async def drain(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.wrap_future(pending)

    def _finish(self, folder: Path) -> None:
        os.fsync(self.fd)
        os.close(self.fd)
        if self.created:
            fsync_dir(folder)

    async def finish(self, folder: Path) -> None:
        await self.drain()
        await asyncio.to_thread(self._finish, folder)  # not on _IO: an fsync must not hold up writers

    def abandon(self) -> None:
        """Keep nothing of this request (after the block in flight, if any, is done with the file)."""
        if self._pending is not None:
            concurrent.futures.wait([self._pending])
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            cut_back(self.path, self.start)


def cut_back(path: Path, offset: int) -> None:
    """Drop what a refused request wrote past ``offset`` (the whole file if it was the first)."""
    if offset == 0:
        path.unlink(missing_ok=True)
    else:
        os.truncate(path, offset)


async def discard(folder: Path, offset: int) -> None:
    await asyncio.to_thread(cut_back, data_path(folder), offset)


def data_path(folder: Path) -> Path:
    return folder / DATA


async def has_data(folder: Path) -> bool:
    return await asyncio.to_thread(data_path(folder).exists)


async def hash_prefix(folder: Path, length: int) -> Any:
    """SHA-256 of the data file's first ``length`` bytes (after a restart lost the running digest)."""

    def run() -> Any:
        digest = hashlib.sha256()
        with data_path(folder).open("rb") as f:
            remaining = length
            while remaining > 0:
                block = f.read(min(8 << 20, remaining))
                if not block:
                    raise AssemblyError("the upload's data file is shorter than what was recorded")
                digest.update(block)
                remaining -= len(block)
        return digest

    return await asyncio.to_thread(run)


async def append(folder: Path, offset: int, source: AsyncIterator[bytes], *, limit: int, whole: Any,
                 algorithms: Sequence[str] = (), keep_partial: bool = False,
                 on_bytes: Callable[[int], None] | None = None) -> Appended:
    """Write ``source`` into the data file at ``offset``, durable on return; ``whole`` (the file's SHA-256
    up to ``offset``) is updated in place. BodyTooLong past ``limit`` bytes, StreamInterrupted if the
    source fails unless ``keep_partial`` (then what arrived is written and reported)."""
    with disk_errors():
        writer = await asyncio.to_thread(_InPlaceWriter, data_path(folder), offset, whole, algorithms)
    try:
        with disk_errors():
            await pump(source, writer.write, limit=limit, keep_partial=keep_partial, on_bytes=on_bytes)
            await writer.finish(folder)
    except BaseException:
        writer.abandon()
        raise
    return Appended(size=writer.size, digests={n: h.digest() for n, h in writer.hashes.items()}, whole=writer.whole)


def finish(folder: Path, total_size: int, final: Path) -> bool:
    """Make the data file the assembled file (cut to ``total_size``); False if this upload has none."""
    path = data_path(folder)
    if not path.exists():
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        if os.fstat(fd).st_size < total_size:
            raise AssemblyError("the upload's data file is shorter than the upload")
        os.ftruncate(fd, total_size)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(path, final)
    fsync_dir(folder)
    return True
