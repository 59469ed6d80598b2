"""The bytes of unfinished uploads on local disk.

One folder per session, ``<uploads_dir>/<token>/``, holding one file per verified part:
``part_000042.<sha256>``. Names carry the content's hash so a racing or stale writer can never replace
verified bytes with different ones: the database row (written after the file is durable) says which file
is the part. A part arrives in a hidden temp file that is hashed while it is written (in a worker thread,
a block at a time, so memory stays flat whatever the part's size), fsynced, and only then renamed.

Assembly renames the first part to become the file and appends the others with in-kernel copies,
deleting parts once an fsync covers them (every GiB, or at once when the disk is nearly full), so a 20 GB
upload never needs 40 GB of disk. It can be interrupted at any point and rerun: parts still present say
where to resume. The library receives a hard link to the
result, so the upload keeps its own name for the bytes until the hand-off has committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdrama_tui.errors import InsufficientStorage
from kdrama_tui.fsutil import fsync_dir

log = logging.getLogger(__name__)

BLOCK_SIZE = 1 << 20  # bytes handed to the writer thread at once: large enough to amortise the hop
_FSYNC_EVERY = 1 << 30  # during assembly, parts are deleted once an fsync covers them
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_COPY_FALLBACK = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)

# Hashing and writing run here, off the event loop: hashlib and file writes release the GIL, so several
# uploads proceed in parallel while the loop keeps reading sockets.
_IO = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-io")

ASSEMBLED = "assembled"
_PARTIAL = "assembled.partial"
_HANDOFF = "handoff"


class BodyTooLong(Exception):
    """The body went past the number of bytes the part may have."""


class StreamInterrupted(Exception):
    """The client's connection ended before the body did."""


class AssemblyError(Exception):
    """The parts on disk do not add up to the file (lost or damaged outside this program)."""


@dataclass(frozen=True)
class ReceivedPart:
    temp: Path
    size: int
    sha256: str
    digests: dict[str, bytes]  # raw digests by algorithm name (always includes sha256)
    interrupted: bool = False  # a partial body kept on purpose (tus without a checksum)


@dataclass(frozen=True)
class PartRef:
    number: int
    size: int
    sha256: str


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """ENOSPC/EDQUOT become a clean 507; other I/O errors stay errors."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise InsufficientStorage("the server is out of disk space; nothing of this request was kept, "
                                      "retry later", code="insufficient_storage") from exc
        raise


class _HashingFile:
    """A new file written block by block in the I/O thread, hashed as it goes; one block in flight."""

    def __init__(self, path: Path, algorithms: Sequence[str]) -> None:
        self.path = path
        self.hashes = {name: hashlib.new(name) for name in algorithms}
        self.size = 0
        self._file = path.open("xb")
        self._pending: concurrent.futures.Future[None] | None = None

    def _write(self, block: bytearray) -> None:
        for digest in self.hashes.values():
            digest.update(block)
        self._file.write(block)

    async def _drain(self) -> None:
        if self._pending is not None:
            await asyncio.wrap_future(self._pending)
            self._pending = None

    async def write(self, block: bytearray) -> None:
        await self._drain()  # hash order matters, and it bounds memory to two blocks per part
        self.size += len(block)
        self._pending = _IO.submit(self._write, block)

    def _finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    async def finish(self) -> None:
        await self._drain()
        await asyncio.wrap_future(_IO.submit(self._finish))

    def abandon(self) -> None:
        """Close and delete, after the block in flight (if any) is done with the file."""
        if self._pending is not None:
            concurrent.futures.wait([self._pending])
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def pump(source: AsyncIterator[bytes], write: Callable[[bytearray], Awaitable[None]], *, limit: int,
               keep_partial: bool, on_bytes: Callable[[int], None] | None = None) -> bool:
    """Copy a request body to ``write`` in blocks of BLOCK_SIZE; True if the body broke off (kept only with
    ``keep_partial``, else StreamInterrupted). BodyTooLong past ``limit`` bytes. Shared by the part files and
    tus's in-place writes, so both read a body the same way."""
    buffer, received, interrupted = bytearray(), 0, False
    iterator = source.__aiter__()
    while True:
        try:
            data = await iterator.__anext__()
        except StopAsyncIteration:
            break
        except Exception as exc:  # the connection dropped mid-body
            log.info("upload body interrupted after %d bytes: %s", received, type(exc).__name__)
            interrupted = True
            break
        received += len(data)
        if received > limit:
            raise BodyTooLong()
        buffer += data
        if on_bytes is not None:
            on_bytes(len(data))
        if len(buffer) >= BLOCK_SIZE:
            await write(buffer)
            buffer = bytearray()
    if interrupted and not keep_partial:
        raise StreamInterrupted()
    if buffer:
        await write(buffer)
    return interrupted


class ChunkStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        # Temp files of parts being received or not yet published: named here before they exist and
        # dropped once renamed or deleted, so the cleanup sweep (in a thread) never deletes one in use.
        self._in_use: set[Path] = set()

    # ---- folders --------------------------------------------------------------------------------------
    def folder(self, token: str) -> Path:
        if not _TOKEN.match(token):
            raise ValueError(f"invalid upload token {token!r}")
        return self.root / token

    async def create_folder(self, token: str) -> None:
        folder = self.folder(token)
        with disk_errors():
            await asyncio.to_thread(folder.mkdir, parents=True)
            await asyncio.to_thread(fsync_dir, self.root)

    async def remove(self, token: str) -> None:
        folder = self.folder(token)
        await asyncio.to_thread(shutil.rmtree, folder, True)

    def folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and _TOKEN.match(p.name)]

    def has_folder(self, token: str) -> bool:
        return self.folder(token).is_dir()

    async def remove_temp_files(self, token: str) -> int:
        """Delete temp files of writes that never finished (only call when none is in progress)."""
        folder = self.folder(token)

        def sweep() -> int:
            removed = 0
            for path in folder.glob(".*.tmp") if folder.is_dir() else []:
                if path in self._in_use:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
            return removed

        return await asyncio.to_thread(sweep)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    # ---- parts ----------------------------------------------------------------------------------------
    def part_path(self, token: str, number: int, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("part names need a lowercase hex SHA-256")
        return self.folder(token) / f"part_{number:06d}.{sha256}"

    async def receive(self, token: str, source: AsyncIterator[bytes], *, limit: int,
                      algorithms: Sequence[str] = ("sha256",), keep_partial: bool = False,
                      on_bytes: Callable[[int], None] | None = None) -> ReceivedPart:
        """Stream ``source`` into a durable temp file in the session's folder, hashing it on the way.

        Raises BodyTooLong past ``limit`` bytes and StreamInterrupted if the source fails, unless
        ``keep_partial``; InsufficientStorage when the disk is full. Nothing is left behind on failure.
        """
        algorithms = tuple(dict.fromkeys(("sha256", *algorithms)))
        temp = self.folder(token) / f".incoming.{uuid.uuid4().hex}.tmp"
        self._in_use.add(temp)
        try:
            with disk_errors():
                writer = await asyncio.to_thread(_HashingFile, temp, algorithms)
        except BaseException:
            self._in_use.discard(temp)
            raise
        interrupted = False
        try:
            with disk_errors():
                interrupted = await pump(source, writer.write, limit=limit, keep_partial=keep_partial,
                                         on_bytes=on_bytes)
                await writer.finish()
        except BaseException:
            writer.abandon()
            self._in_use.discard(temp)
            raise
        return ReceivedPart(temp=temp, size=writer.size, sha256=writer.hashes["sha256"].hexdigest(),
                            digests={name: h.digest() for name, h in writer.hashes.items()},
                            interrupted=interrupted)

    async def discard(self, part: ReceivedPart) -> None:
        try:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(part.temp.unlink)
        finally:
            self._in_use.discard(part.temp)

    async def publish(self, part: ReceivedPart, target: Path) -> None:
        """Rename the durable temp file into place (raises FileNotFoundError if the session's folder is
        gone, e.g. aborted meanwhile)."""

        def move() -> None:
            os.replace(part.temp, target)
            fsync_dir(target.parent)

        try:
            with disk_errors():
                await asyncio.wrap_future(_IO.submit(move))
        finally:
            self._in_use.discard(part.temp)  # renamed; or failed, and the caller deletes it anyway

    async def delete_part(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    # ---- assembly -------------------------------------------------------------------------------------
    async def assemble(self, token: str, parts: Sequence[PartRef], total_size: int) -> Path:
        """Concatenate ``parts`` (in order) into ``assembled``; safe to rerun after any interruption."""
        with disk_errors():
            return await asyncio.to_thread(self._assemble, token, list(parts), total_size)

    def _assemble(self, token: str, parts: list[PartRef], total_size: int) -> Path:
        folder = self.folder(token)
        final, partial = folder / ASSEMBLED, folder / _PARTIAL
        if sum(p.size for p in parts) != total_size:
            raise AssemblyError("the verified parts do not add up to the announced size")
        if final.exists():
            if final.stat().st_size != total_size:
                raise AssemblyError("the assembled file has the wrong size")
            self._delete_parts(token, parts)
            return final
        paths = [self.part_path(token, p.number, p.sha256) for p in parts]
        present = [path.exists() for path in paths]
        # Parts leave the folder in order, and only once they are durably in `partial` (the first one by
        # being renamed to it): the first part still on disk is where the previous run stopped, and every
        # part after it must be there too.
        first = present.index(True) if True in present else len(parts)
        if not all(present[first:]):
            raise AssemblyError("some parts of this upload are missing on disk")
        offset = sum(p.size for p in parts[:first])
        if first == 0:
            if paths[0].stat().st_size != parts[0].size:
                raise AssemblyError("part 0 has the wrong size on disk")
            os.replace(paths[0], partial)  # no copy, and no free space needed for it
            fsync_dir(folder)
            first, offset = 1, parts[0].size
        elif not partial.exists() or partial.stat().st_size < offset:
            raise AssemblyError("the partly assembled file is missing or short")
        fd = os.open(partial, os.O_WRONLY)
        try:
            os.ftruncate(fd, offset)  # drop whatever an interrupted run appended after the last durable part
            unsynced: list[Path] = []
            unsynced_bytes = 0
            for part, path in zip(parts[first:], paths[first:], strict=True):
                # Near a full disk, make room first: parts copied so far are deleted once fsynced.
                if unsynced and (unsynced_bytes >= _FSYNC_EVERY or _free(folder) < 2 * part.size):
                    os.fsync(fd)
                    for done in unsynced:
                        done.unlink()
                    unsynced, unsynced_bytes = [], 0
                with path.open("rb") as src:
                    if os.fstat(src.fileno()).st_size != part.size:
                        raise AssemblyError(f"part {part.number} has the wrong size on disk")
                    _copy_range(src.fileno(), fd, part.size, offset)
                offset += part.size
                unsynced.append(path)
                unsynced_bytes += part.size
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, final)
        fsync_dir(folder)
        self._delete_parts(token, parts)
        return final

    def _delete_parts(self, token: str, parts: Sequence[PartRef]) -> None:
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                self.part_path(token, part.number, part.sha256).unlink()

    async def handoff(self, token: str) -> Path:
        """A second name (hard link) for the assembled file, for the library to move into storage: if the
        process dies before the hand-off commits, ``assembled`` is still there for the retry."""
        folder = self.folder(token)

        def link() -> Path:
            target = folder / _HANDOFF
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            try:
                os.link(folder / ASSEMBLED, target)
            except OSError:
                return folder / ASSEMBLED  # no hard links here: hand over the file itself
            return target

        return await asyncio.to_thread(link)


def _free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _copy_range(src: int, dst: int, count: int, dst_offset: int) -> None:
    """Copy ``count`` bytes from the start of ``src`` to ``dst`` at ``dst_offset``, in the kernel if it can."""
    copied = 0
    try:
        while copied < count:
            n = os.copy_file_range(src, dst, count - copied, copied, dst_offset + copied)
            if n == 0:
                raise AssemblyError("a part ended early while being copied")
            copied += n
        return
    except OSError as exc:
        if exc.errno not in _COPY_FALLBACK or copied:
            raise
    while copied < count:
        block = os.pread(src, min(8 << 20, count - copied), copied)
        if not block:
            raise AssemblyError("a part ended early while being copied")
        written = 0
        while written < len(block):
            written += os.pwrite(dst, block[written:], dst_offset + copied + written)
        copied += len(block)
