"""Durable file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(target: Path) -> Path:
    """A hidden temp name beside ``target`` (same filesystem, so the final rename is atomic)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


async def atomic_write_stream(target: Path, blocks: AsyncIterator[bytes]) -> tuple[int, str]:
    """Write ``blocks`` to ``target`` durably, never leaving a partial file under its name.

    Returns the size and SHA-256 of what was written. Blocking writes run in a thread."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    digest, size = hashlib.sha256(), 0
    try:
        with tmp.open("xb") as f:
            async for block in blocks:
                digest.update(block)
                size += len(block)
                await asyncio.to_thread(f.write, block)
            await asyncio.to_thread(f.flush)
            await asyncio.to_thread(os.fsync, f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return size, digest.hexdigest()


def publish(tmp: Path, target: Path) -> None:
    """Move a finished, fsynced temp file or folder into place and make the rename durable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
