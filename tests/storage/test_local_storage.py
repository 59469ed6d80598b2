"""LocalStorage: atomic writes, ranged reads, and keys that try to leave the root."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kdrama_tui.errors import ValidationError
from kdrama_tui.storage.base import InvalidKey
from kdrama_tui.storage.local import LocalStorage


async def _collect(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in it])


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


BAD_KEYS = ["../outside.txt", "videos/../../outside.txt", "/etc/passwd", "videos/1/\x00.m4s", "videos\\1",
            "videos//1", "./videos", "videos/1/", "", "videos/%2e%2e/x", "videos/1/seg 1.m4s"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_by_every_operation(storage: LocalStorage, tmp_path: Path, key: str) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"data")

    async def one() -> AsyncIterator[bytes]:
        yield b"x"

    attempts = [storage.put_file(key, source), storage.put_stream(key, one()), _collect(storage.read(key)),
                storage.get_to_file(key, tmp_path / "out"), storage.delete(key), storage.exists(key),
                storage.size(key)]
    for attempt in attempts:
        with pytest.raises(InvalidKey) as info:
            await attempt
        assert isinstance(info.value, ValidationError) and isinstance(info.value, ValueError)
        assert info.value.status == 400
    assert source.read_bytes() == b"data"
    assert not (tmp_path / "outside.txt").exists()


async def test_symlinks_out_of_the_root_are_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "app.db").write_bytes(b"secret")
    (storage.root / "videos").mkdir()
    (storage.root / "videos" / "7").symlink_to(outside, target_is_directory=True)  # a folder link
    (storage.root / "videos" / "leak.m4s").symlink_to(outside / "app.db")  # a file link

    for key in ("videos/7/app.db", "videos/leak.m4s"):
        with pytest.raises(InvalidKey):
            await _collect(storage.read(key))
        with pytest.raises(InvalidKey):
            await storage.size(key)
    with pytest.raises(InvalidKey):
        await storage.put_file("videos/7/new.m4s", outside / "app.db")
    assert sorted(p.name for p in outside.iterdir()) == ["app.db"]  # nothing written through the link

    # A link that stays inside the root is fine.
    (storage.root / "videos" / "8").mkdir()
    (storage.root / "videos" / "8" / "a.m4s").write_bytes(b"ok")
    (storage.root / "videos" / "alias").symlink_to(storage.root / "videos" / "8", target_is_directory=True)
    assert await _collect(storage.read("videos/alias/a.m4s")) == b"ok"


async def test_put_read_ranges_and_delete(storage: LocalStorage, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    source = tmp_path / "seg.m4s"
    source.write_bytes(data)
    stored = await storage.put_file("videos/1/hls/720p/seg_00001.m4s", source)
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert source.exists()  # copied, not moved

    key = "videos/1/hls/720p/seg_00001.m4s"
    assert await _collect(storage.read(key, 10, 20)) == data[10:20]
    assert await _collect(storage.read(key, 99_990)) == data[99_990:]
    assert await _collect(storage.read(key, 100_000)) == b""
    assert await _collect(storage.read(key, 500, 10**9)) == data[500:]
    assert await storage.list("videos/1/") == [key]
    assert await storage.list("videos/1") == [key]
    assert await storage.list("videos/12/") == []

    await storage.get_to_file(key, tmp_path / "copy" / "seg.m4s")
    assert (tmp_path / "copy" / "seg.m4s").read_bytes() == data

    assert await storage.delete_prefix("videos/1/") == 1
    assert not await storage.exists(key)
    with pytest.raises(FileNotFoundError):
        await _collect(storage.read(key))
    with pytest.raises(FileNotFoundError):
        await storage.get_to_file(key, tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


async def test_a_failed_stream_leaves_nothing(storage: LocalStorage) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        await storage.put_stream("originals/a/source.mkv", chunks())
    assert not await storage.exists("originals/a/source.mkv")
    assert await storage.list() == []
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []  # no temp file either
