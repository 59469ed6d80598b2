"""Issue 8's "done when", end to end on a real S3 server (moto) and both databases: a chunk-uploaded clip is
transcoded by the real queue with everything stored in the bucket, streamed through the app (proxy, with
byte ranges) and by presigned redirects, then moved back to local storage and still streamed."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.integration.conftest import small_pipeline
from tests.support.auth import cli, cli_env
from tests.support.e2e import upload_via_chunks, walk_hls
from tests.support.s3 import S3Bucket
from tests.support.uploads import make_account


@pytest.fixture
async def s3_svc(settings: Settings, s3_bucket: S3Bucket) -> AsyncIterator[Services]:
    s3_bucket.configure(small_pipeline(settings))
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture
async def s3_client(s3_svc: Services, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(s3_svc))


def _local_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_upload_transcode_and_stream_from_s3_then_migrate_back(
        s3_svc: Services, s3_client: TestClient, s3_bucket: S3Bucket, clip: Path, database_url: str) -> None:
    svc, client = s3_svc, s3_client
    assert svc.storage.provider == "s3"
    owner = await make_account(svc, "uploader")
    data = clip.read_bytes()
    video_id = await upload_via_chunks(client, owner, data, chunks=4, title="Vincenzo")
    assert await svc.media.queue.run_until_idle() == 1
    assert (await repos_of(svc.db).videos.get(video_id)).status == "ready"

    # Everything lives in the bucket, nothing under the local media root.
    keys = s3_bucket.keys()
    originals = [k for k in keys if k.startswith("originals/")]
    assert len(originals) == 1 and originals[0].endswith("/source.mp4")
    assert s3_bucket.get(originals[0]) == data
    hls = [k for k in keys if k.startswith(f"videos/{video_id}/hls/")]
    prefix = f"videos/{video_id}/hls/"
    assert {prefix + "master.m3u8", prefix + "poster.jpg", prefix + "180p/index.m3u8", prefix + "180p/init.mp4",
            prefix + "180p/seg_00001.m4s", prefix + "144p/index.m3u8"} <= set(hls)
    assert _local_files(svc.settings.media_root) == []
    rows = await repos_of(svc.db).video_files.find_by_video(video_id)
    assert rows and {r.storage_provider for r in rows} == {"s3"}
    assert {r.file_path for r in rows} == set(originals) | set(hls)
    assert {"original", "master_playlist", "transcoded_180p", "transcoded_144p", "thumbnail"} <= \
        {r.file_type for r in rows}

    # Proxy delivery: master, variants, init and media segments, poster, all through the app.
    assert svc.settings.storage.delivery == "proxy"
    playback = await (await client.get(f"/api/videos/{video_id}/playback")).json()
    walk = await walk_hls(client, playback["hls_url"], follow_redirects=False)
    assert len(walk.master.playlists) == 2 and all(p.stream_info.codecs for p in walk.master.playlists)
    for path, body in walk.media.items():
        assert body == s3_bucket.get(prefix + path), path
    segment = "180p/seg_00002.m4s"
    whole = walk.media[segment]
    ranged = await client.get(f"/hls/{video_id}/{segment}", headers={"Range": "bytes=10-109"})
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes 10-109/{len(whole)}"
    assert await ranged.read() == whole[10:110]
    poster = await client.get(f"/hls/{video_id}/poster.jpg")
    assert poster.status == 200 and poster.content_type == "image/jpeg"
    assert await poster.read() == s3_bucket.get(prefix + "poster.jpg")

    # Presigned delivery: playlists still come from the app (tokens get written into them), media files
    # redirect to the bucket, and the redirect target gives the same bytes.
    svc.settings.storage.delivery = "presigned"
    master = await client.get(f"/hls/{video_id}/master.m3u8", allow_redirects=False)
    assert master.status == 200 and (await master.text()).startswith("#EXTM3U")
    async with aiohttp.ClientSession() as direct:
        for path in (segment, "180p/init.mp4", "poster.jpg"):
            redirect = await client.get(f"/hls/{video_id}/{path}", allow_redirects=False)
            assert redirect.status == 302, path
            location = redirect.headers["Location"]
            assert location.startswith(s3_bucket.server.endpoint_url) and "Signature" in location
            async with direct.get(location) as got:
                assert got.status == 200
                assert await got.read() == (whole if path == segment else s3_bucket.get(prefix + path))
    svc.settings.storage.delivery = "proxy"

    # `kdrama-tui storage migrate --to local`, run as the command (another process) while the app runs.
    env = cli_env(svc.settings.data_dir, database_url, **s3_bucket.env())
    result = await asyncio.to_thread(subprocess.run, cli("storage", "migrate", "--to", "local"), env=env,
                                     capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{len(rows)} switched, {len(rows)} source copies deleted" in result.stdout
    assert s3_bucket.keys() == []
    rows = await repos_of(svc.db).video_files.find_by_video(video_id)
    assert {r.storage_provider for r in rows} == {"local"}
    assert set(_local_files(svc.settings.media_root)) == {r.file_path for r in rows}
    # The running app (which cached "this video is on s3" a moment ago) streams it from disk now.
    walk = await walk_hls(client, playback["hls_url"], follow_redirects=False)
    assert walk.media[segment] == whole
    ranged = await client.get(f"/hls/{video_id}/{segment}", headers={"Range": "bytes=10-109"})
    assert ranged.status == 206 and await ranged.read() == whole[10:110]
    assert (await client.get(f"/hls/{video_id}/poster.jpg")).status == 200


async def test_a_library_left_on_another_preset_keeps_playing_and_transcoding(
        settings: Settings, s3_bucket: S3Bucket, clip: Path, aiohttp_client: Callable[..., Any]) -> None:
    """Videos stored while the provider was "wasabi" (here pointed at moto by endpoint_url), after the admin
    switched new files to local: streaming and a fresh transcode find them without any manual step."""
    s3_bucket.configure(small_pipeline(settings), provider="wasabi")
    before = await build_services(settings)
    try:
        owner = await make_account(before, "uploader")
        video_id = await upload_via_chunks(await aiohttp_client(create_app(before)), owner, clip.read_bytes(),
                                           chunks=2, title="Mr. Sunshine")
        assert await before.media.queue.run_until_idle() == 1
    finally:
        await before.close()

    settings.storage.provider = "local"  # the same [storage] credentials stay, new files go to disk
    svc = await build_services(settings)
    try:
        assert set(svc.storages) == {"local"}  # wasabi is not built until a row names it
        rows = await repos_of(svc.db).video_files.find_by_video(video_id)
        assert {r.storage_provider for r in rows} == {"wasabi"}
        client = await aiohttp_client(create_app(svc))
        playback = await (await client.get(f"/api/videos/{video_id}/playback")).json()
        walk = await walk_hls(client, playback["hls_url"], follow_redirects=False)
        prefix = f"videos/{video_id}/hls/"
        for path, body in walk.media.items():
            assert body == s3_bucket.get(prefix + path), path
        # A new transcode reads the original from the bucket.
        await svc.media.queue.enqueue(video_id)
        assert await svc.media.queue.run_until_idle() == 1
        jobs = await svc.media.queue.list_jobs(video_id=video_id)
        assert [j["status"] for j in jobs].count("completed") == 2, jobs
        assert (await repos_of(svc.db).videos.get(video_id)).status == "ready"
    finally:
        await svc.close()
