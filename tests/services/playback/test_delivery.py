"""Delivery paths other than local sendfile: remote storage (proxied or presigned) and nginx X-Accel-Redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kdrama_tui.repositories import repos_of
from kdrama_tui.storage.local import LocalStorage
from tests.support.nginx import PLAYLIST_CACHE, Nginx, free_port, proxy_block
from tests.support.world import World


class RemoteLikeStorage(LocalStorage):
    """Storage with no local paths, as an S3 provider is to the HLS route (bytes only through read())."""

    provider = "s3"

    def __init__(self, root: Path, presign: bool) -> None:
        super().__init__(root)
        self.presign = presign
        self.reads: list[tuple[str, int, int | None]] = []

    def local_path(self, key: str) -> Path | None:
        return None

    async def read(self, key: str, start: int = 0, end: int | None = None,
                   chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.reads.append((key, start, end))
        async for block in super().read(key, start, end, chunk_size=7000):
            yield block

    async def url(self, key: str, expires_seconds: int) -> str | None:
        return f"https://bucket.example/{key}?X-Amz-Expires={expires_seconds}" if self.presign else None


def _use_remote(world: World, presign: bool) -> RemoteLikeStorage:
    remote = RemoteLikeStorage(world.svc.settings.data_dir / "s3", presign)
    world.svc.storages["s3"] = remote
    world.svc.storage = remote
    return remote


async def test_remote_storage_is_streamed_through_with_ranges(world: World) -> None:
    remote = _use_remote(world, presign=False)
    video = await world.video(is_public=False)
    assert (await repos_of(world.svc.db).video_files.find_by_video(video.id))[0].storage_provider == "s3"
    token, _ = world.svc.playback.tokens.issue(video.id)
    data = (world.hls_source / "180p" / "seg_00002.m4s").read_bytes()
    url = f"/hls/{video.id}/180p/seg_00002.m4s"
    assert (await world.client.get(url)).status == 401
    full = await world.client.get(url, params={"token": token})
    assert full.status == 200 and await full.read() == data and full.content_type == "video/iso.segment"
    part = await world.client.get(url, params={"token": token}, headers={"Range": "bytes=10-20009"})
    assert part.status == 206 and await part.read() == data[10:20010]
    assert part.headers["Content-Range"] == f"bytes 10-20009/{len(data)}"
    assert remote.reads[-1] == (f"videos/{video.id}/hls/180p/seg_00002.m4s", 10, 20010)
    suffix = await world.client.get(url, params={"token": token}, headers={"Range": "bytes=-100"})
    assert await suffix.read() == data[-100:]
    beyond = await world.client.get(url, params={"token": token}, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status == 416
    again = await world.client.get(url, params={"token": token}, headers={"If-None-Match": full.headers["ETag"]})
    assert again.status == 304
    master = await world.client.get(f"/hls/{video.id}/master.m3u8", params={"token": token})
    assert f"?token={token}" in await master.text()
    assert (await world.client.get(f"/hls/{video.id}/180p/seg_00099.m4s", params={"token": token})).status == 404


async def test_presigned_delivery_redirects_media_but_serves_playlists(world: World) -> None:
    world.svc.settings.storage.delivery = "presigned"
    _use_remote(world, presign=True)
    video = await world.video(is_public=False)
    token, _ = world.svc.playback.tokens.issue(video.id)
    assert (await world.client.get(f"/hls/{video.id}/180p/seg_00001.m4s", allow_redirects=False)).status == 401
    resp = await world.client.get(f"/hls/{video.id}/180p/seg_00001.m4s", params={"token": token},
                                  allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"].startswith(f"https://bucket.example/videos/{video.id}/hls/180p/seg_00001.m4s")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    playlist = await world.client.get(f"/hls/{video.id}/180p/index.m3u8", params={"token": token},
                                      allow_redirects=False)
    assert playlist.status == 200 and f"seg_00001.m4s?token={token}" in await playlist.text()


async def test_x_accel_redirect_header_instead_of_the_body(world: World) -> None:
    world.svc.settings.streaming.x_accel_redirect = True
    video = await world.video(is_public=False)
    token, _ = world.svc.playback.tokens.issue(video.id)
    assert (await world.client.get(f"/hls/{video.id}/180p/seg_00001.m4s")).status == 401
    resp = await world.client.get(f"/hls/{video.id}/180p/seg_00001.m4s", params={"token": token})
    assert resp.status == 200
    assert resp.headers["X-Accel-Redirect"] == f"/_media/videos/{video.id}/hls/180p/seg_00001.m4s"
    assert resp.headers["Content-Type"] == "video/iso.segment"
    assert await resp.read() == b""
    # Playlists still come from the app (they carry the token).
    playlist = await world.client.get(f"/hls/{video.id}/180p/index.m3u8", params={"token": token})
    assert "X-Accel-Redirect" not in playlist.headers and "token=" in await playlist.text()


@pytest.mark.slow
async def test_behind_real_nginx_with_x_accel_redirect(world: World) -> None:
    settings = world.svc.settings
    settings.streaming.x_accel_redirect = True
    settings.security.trusted_proxies = ["127.0.0.1"]
    public = await world.video()
    private = await world.video(is_public=False)
    token, _ = world.svc.playback.tokens.issue(private.id)
    data = (world.hls_source / "90p" / "seg_00002.m4s").read_bytes()
    port = free_port()
    block = proxy_block(world.client.server.port, settings.media_root.resolve(), settings.streaming.x_accel_prefix)
    with Nginx(block, port, http_block=PLAYLIST_CACHE) as nginx:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{nginx.url}/hls/{public.id}/90p/seg_00002.m4s") as resp:
                assert resp.status == 200 and await resp.read() == data
                assert resp.headers["Content-Type"] == "video/iso.segment"
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                assert resp.headers.getall("Cache-Control") == ["public, max-age=31536000, s-maxage=3600, immutable"]
                assert len(resp.headers.getall("Access-Control-Allow-Origin")) == 1
            async with http.get(f"{nginx.url}/hls/{public.id}/90p/seg_00002.m4s",
                                headers={"Range": "bytes=5-104"}) as resp:
                assert resp.status == 206 and await resp.read() == data[5:105]
            async with http.get(f"{nginx.url}/hls/{private.id}/90p/seg_00002.m4s") as resp:
                assert resp.status == 401
            async with http.get(f"{nginx.url}/hls/{private.id}/90p/seg_00002.m4s", params={"token": "1.x"}) as resp:
                assert resp.status == 403
            async with http.get(f"{nginx.url}/hls/{private.id}/90p/seg_00002.m4s", params={"token": token}) as resp:
                assert resp.status == 200 and await resp.read() == data
            async with http.get(f"{nginx.url}/hls/{private.id}/master.m3u8", params={"token": token}) as resp:
                assert resp.status == 200 and f"?token={token}" in await resp.text()
            # Public playlists are kept by nginx for their max-age; private ones never (Cache-Control: private).
            cache_states = []
            for _ in range(3):
                async with http.get(f"{nginx.url}/hls/{public.id}/master.m3u8") as resp:
                    assert resp.status == 200 and "#EXTM3U" in await resp.text()
                    cache_states.append(resp.headers["X-Cache-Status"])
                async with http.get(f"{nginx.url}/hls/{private.id}/master.m3u8", params={"token": token}) as resp:
                    assert resp.status == 200 and resp.headers["X-Cache-Status"] != "HIT"
            assert cache_states[0] == "MISS" and cache_states[1:] == ["HIT", "HIT"]
            # The internal location is not reachable from outside.
            async with http.get(f"{nginx.url}/_media/videos/{private.id}/hls/90p/seg_00002.m4s") as resp:
                assert resp.status == 404
            # Views behind the proxy are counted for the viewer's address, not nginx's.
            async with http.post(f"{nginx.url}/api/videos/{public.id}/views", json={"watch_duration": 2},
                                 headers={"X-Forwarded-For": "198.51.100.23"}) as resp:
                assert resp.status == 204
    await world.svc.analytics.flush()
    rows = await repos_of(world.svc.db).analytics.list({"video_id": public.id})
    assert [r.ip_address for r in rows] == ["198.51.100.23"]
