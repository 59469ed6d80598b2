"""S3Storage against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kdrama_tui.storage.base import InvalidKey, StorageAuthError, StorageBucketMissing, StorageError
from kdrama_tui.storage.s3 import S3Storage
from tests.support.postgres import free_port
from tests.support.s3 import CuttingProxy, MotoServer, S3Bucket

MiB = 1024 * 1024


@pytest.fixture
async def storage(s3_bucket: S3Bucket) -> AsyncIterator[S3Storage]:
    s = S3Storage(s3_bucket.config())
    try:
        yield s
    finally:
        await s.close()


def _write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def _collect(it: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in it])


async def test_multipart_upload_larger_than_three_parts(storage: S3Storage, s3_bucket: S3Bucket,
                                                        tmp_path: Path) -> None:
    source = tmp_path / "big.mkv"
    data = _write(source, 3 * 5 * MiB + 12345)  # three full 5 MiB parts and a short fourth
    stored = await storage.put_file("originals/abc/source.mkv", source, move=True)

    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert not source.exists()  # move=True takes the file once it is safely stored
    assert s3_bucket.get("originals/abc/source.mkv") == data
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="originals/abc/source.mkv")
    assert head["ETag"].strip('"').endswith("-4")  # four parts
    assert s3_bucket.multipart_uploads() == []
    assert await storage.size("originals/abc/source.mkv") == len(data)


async def test_small_stream_is_one_put_with_a_player_friendly_type(storage: S3Storage, s3_bucket: S3Bucket) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"#EXTM3U\n"
        yield b"#EXT-X-VERSION:7\n"

    stored = await storage.put_stream("videos/1/hls/master.m3u8", chunks())
    assert stored.size == len(b"#EXTM3U\n#EXT-X-VERSION:7\n")
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="videos/1/hls/master.m3u8")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    assert "-" not in head["ETag"]


async def test_failed_stream_aborts_the_multipart_upload(storage: S3Storage, s3_bucket: S3Bucket) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(4 * MiB)  # enough for two parts to be sent
        raise OSError("the source disk failed")

    with pytest.raises(OSError, match="source disk failed"):
        await storage.put_stream("videos/1/broken.bin", chunks())
    assert s3_bucket.multipart_uploads() == []
    assert not await storage.exists("videos/1/broken.bin")


async def test_ranged_reads(storage: S3Storage, s3_bucket: S3Bucket) -> None:
    data = os.urandom(300_000)
    s3_bucket.put("videos/2/hls/720p/seg_00001.m4s", data)
    key = "videos/2/hls/720p/seg_00001.m4s"

    assert await _collect(storage.read(key)) == data
    assert await _collect(storage.read(key, 10, 20)) == data[10:20]
    assert await _collect(storage.read(key, 299_990)) == data[299_990:]
    assert await _collect(storage.read(key, 1000, 10**9)) == data[1000:]  # end clipped to the size
    assert await _collect(storage.read(key, 300_000)) == b""  # start at the end
    assert await _collect(storage.read(key, 5, 5)) == b""
    chunks = [c async for c in storage.read(key, 0, 100_000, chunk_size=16_384)]
    assert b"".join(chunks) == data[:100_000] and max(map(len, chunks)) <= 16_384

    s3_bucket.put("videos/2/empty.vtt", b"")
    assert await _collect(storage.read("videos/2/empty.vtt")) == b""
    assert await _collect(storage.read("videos/2/empty.vtt", 0, 10)) == b""


async def test_missing_objects_are_file_not_found(storage: S3Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await _collect(storage.read("videos/9/none.m4s"))
    with pytest.raises(FileNotFoundError):
        await storage.size("videos/9/none.m4s")
    with pytest.raises(FileNotFoundError):
        await storage.get_to_file("videos/9/none.m4s", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert await storage.exists("videos/9/none.m4s") is False
    await storage.delete("videos/9/none.m4s")  # deleting what is not there is fine


async def test_get_to_file_copies_exactly(storage: S3Storage, s3_bucket: S3Bucket, tmp_path: Path) -> None:
    data = os.urandom(6 * MiB + 1)
    s3_bucket.put("originals/x/source.mp4", data)
    await storage.get_to_file("originals/x/source.mp4", tmp_path / "out" / "source.mp4")
    assert (tmp_path / "out" / "source.mp4").read_bytes() == data
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["source.mp4"]  # no temp file left


async def test_presigned_url_fetch(storage: S3Storage, s3_bucket: S3Bucket) -> None:
    data = os.urandom(1000)
    s3_bucket.put("videos/3/hls/poster.jpg", data)
    url = await storage.url("videos/3/hls/poster.jpg", 300)
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert await response.read() == data
        # A presigned URL is for that object only.
    other = url.replace("poster.jpg", "other.jpg")
    async with aiohttp.ClientSession() as session, session.get(other) as response:
        assert response.status in (403, 404)


async def test_list_is_paginated_with_folder_semantics(storage: S3Storage, s3_bucket: S3Bucket) -> None:
    keys = [f"videos/1/hls/seg_{i:05d}.m4s" for i in range(7)] + ["videos/12/hls/master.m3u8", "videos/1x"]
    for key in keys:
        s3_bucket.put(key, b"x")
    storage.page_size = 2  # force several pages
    assert await storage.list("videos/1/") == sorted(keys[:7])
    assert await storage.list("videos/1") == sorted(keys[:7])  # not videos/12/ nor videos/1x
    assert sorted(await storage.list()) == sorted(keys)
    assert await storage.list("nothing/") == []


async def test_delete_prefix(s3_bucket: S3Bucket) -> None:
    for batch in (True, False):  # DeleteObjects, and one by one as on GCS's XML API
        storage = S3Storage(s3_bucket.config(batch_delete=batch))
        try:
            for i in range(5):
                s3_bucket.put(f"videos/5/hls/seg_{i}.m4s", b"x")
            s3_bucket.put("videos/55/keep.m4s", b"x")
            assert await storage.delete_prefix("videos/5/") == 5
            assert s3_bucket.keys() == ["videos/55/keep.m4s"]
            with pytest.raises(StorageError):
                await storage.delete_prefix("")
        finally:
            await storage.close()


async def test_bad_keys_are_refused_before_any_request(storage: S3Storage) -> None:
    for key in ("../x", "/abs", "a/../b", "a\x00b", "a\\b", ""):
        with pytest.raises(InvalidKey):
            await storage.exists(key)
        with pytest.raises(InvalidKey):
            await _collect(storage.read(key))


async def test_wrong_credentials_give_a_clear_error(s3_auth_server: MotoServer) -> None:
    bucket = s3_auth_server.new_bucket()
    good = S3Storage(bucket.config())
    try:
        await good.check()  # the right key pair works on this server...
        await good.put_stream("a/b.txt", _one(b"hi"))
    finally:
        await good.close()

    for wrong in ({"secret_key": "not-the-secret"}, {"access_key": "AKIANOTAKEY000000000"}):
        bad = S3Storage(bucket.config(**wrong))
        try:
            for attempt in (bad.check(), bad.put_stream("a/c.txt", _one(b"x")), _collect(bad.read("a/b.txt")),
                            bad.list("a/")):
                with pytest.raises(StorageAuthError) as info:
                    await attempt
                assert "storage.access_key" in info.value.message
                assert bucket.name in info.value.message
                assert "Traceback" not in info.value.message
        finally:
            await bad.close()


async def test_missing_bucket_gives_a_clear_error(s3_server: MotoServer) -> None:
    ghost = S3Bucket(s3_server, "no-such-bucket-here")
    storage = S3Storage(ghost.config())
    try:
        for attempt in (storage.check(), storage.put_stream("a/b.txt", _one(b"x")), storage.list(),
                        _collect(storage.read("a/b.txt"))):
            with pytest.raises(StorageBucketMissing) as info:
                await attempt
            assert "no-such-bucket-here" in info.value.message and "storage.bucket" in info.value.message
            assert info.value.code == "storage_bucket_missing"
    finally:
        await storage.close()


async def test_unreachable_endpoint_is_a_clear_error(s3_bucket: S3Bucket) -> None:
    port = free_port()  # nothing listens there
    storage = S3Storage(s3_bucket.config(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1,
                                         part_attempts=1, connect_timeout=2))
    try:
        with pytest.raises(StorageError) as info:
            await storage.check()
        assert info.value.code == "storage_unavailable"
        assert "cannot reach" in info.value.message
    finally:
        await storage.close()


async def test_dropped_connection_mid_upload_is_retried_by_botocore(
        s3_server: MotoServer, s3_bucket: S3Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # aiohttp resends an idempotent PUT once by itself; the second cut is botocore's to retry.
    proxy = CuttingProxy(s3_server.port, after_bytes=512 * 1024, times=2)
    storage = S3Storage(s3_bucket.config(endpoint_url=proxy.endpoint_url, max_attempts=4, part_attempts=1))
    try:
        source = tmp_path / "one.bin"
        data = _write(source, 3 * MiB)  # one PUT; the first connections die half-way through its body
        with caplog.at_level(logging.DEBUG, logger="botocore.retries.standard"):
            stored = await storage.put_file("originals/r/source.bin", source)
        assert proxy.cuts == 2 and proxy.connections >= 3
        assert any(r.getMessage().startswith("Retry needed") for r in caplog.records)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert s3_bucket.get("originals/r/source.bin") == data
    finally:
        await storage.close()
        proxy.close()


async def test_dropped_connection_mid_part_is_retried_by_the_part_retry(
        s3_server: MotoServer, s3_bucket: S3Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # botocore's retries are off and aiohttp resends a PUT only once, so after the second cut only our own
    # part retry can save the upload.
    proxy = CuttingProxy(s3_server.port, after_bytes=2 * MiB, times=2)
    storage = S3Storage(s3_bucket.config(endpoint_url=proxy.endpoint_url, max_attempts=1, part_attempts=3))
    try:
        source = tmp_path / "two.bin"
        data = _write(source, 11 * MiB)  # three parts; the first one is cut
        with caplog.at_level(logging.WARNING, logger="kdrama_tui.storage.s3"):
            stored = await storage.put_file("originals/p/source.bin", source)
        assert proxy.cuts == 2
        assert any("upload part 1" in r.getMessage() and "retry" in r.getMessage() for r in caplog.records)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert s3_bucket.get("originals/p/source.bin") == data
        assert s3_bucket.multipart_uploads() == []
    finally:
        await storage.close()
        proxy.close()


async def test_without_retries_a_dropped_part_aborts_cleanly(s3_server: MotoServer, s3_bucket: S3Bucket,
                                                             tmp_path: Path) -> None:
    proxy = CuttingProxy(s3_server.port, after_bytes=2 * MiB, times=100)
    storage = S3Storage(s3_bucket.config(endpoint_url=proxy.endpoint_url, max_attempts=1, part_attempts=2))
    try:
        source = tmp_path / "three.bin"
        _write(source, 11 * MiB)
        with pytest.raises(StorageError) as info:
            await storage.put_file("originals/q/source.bin", source)
        assert info.value.code == "storage_unavailable"
        assert source.exists()  # the caller's file is untouched
    finally:
        await storage.close()
        proxy.close()
    assert s3_bucket.keys() == []
    assert s3_bucket.multipart_uploads() == []


async def test_dropped_connection_mid_download_resumes(s3_server: MotoServer, s3_bucket: S3Bucket) -> None:
    data = os.urandom(6 * MiB)
    s3_bucket.put("videos/7/hls/1080p/seg_00001.m4s", data)
    proxy = CuttingProxy(s3_server.port, after_bytes=2 * MiB, direction="download")
    storage = S3Storage(s3_bucket.config(endpoint_url=proxy.endpoint_url))
    try:
        got = await _collect(storage.read("videos/7/hls/1080p/seg_00001.m4s", 100))
        assert proxy.cuts == 1
        assert got == data[100:]
    finally:
        await storage.close()
        proxy.close()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
