"""HLS delivery: types, ranges, caching, CORS, path safety, and no database on the segment path."""

from __future__ import annotations

import os
from pathlib import Path

import m3u8
from aiohttp import ClientResponse
from yarl import URL

from kdrama_tui.repositories import repos_of
from tests.support.hls import RENDITIONS
from tests.support.world import World


async def raw_get(world: World, path: str) -> ClientResponse:
    """GET exactly this path: no client-side normalisation of '..', '.' or percent-escapes."""
    base = world.client.make_url("/")
    return await world.client.session.get(URL(f"{base.scheme}://{base.host}:{base.port}{path}", encoded=True))


async def test_public_video_files_have_the_right_types_and_bytes(world: World) -> None:
    video = await world.video()
    root = world.hls_source
    expected = {
        "master.m3u8": "application/vnd.apple.mpegurl",
        "180p/index.m3u8": "application/vnd.apple.mpegurl",
        "180p/init.mp4": "video/mp4",
        "180p/seg_00001.m4s": "video/iso.segment",
        "subs/ko.vtt": "text/vtt",
        "subs/en.m3u8": "application/vnd.apple.mpegurl",
        "poster.jpg": "image/jpeg",
        "thumbs/sprite.jpg": "image/jpeg",
        "thumbs/thumbs.vtt": "text/vtt",
    }
    for path, kind in expected.items():
        resp = await world.client.get(f"/hls/{video.id}/{path}")
        assert resp.status == 200, path
        assert resp.content_type == kind, path
        assert await resp.read() == (root / path).read_bytes(), path
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers.get("ETag")
        assert resp.headers.get("Last-Modified")


async def test_cache_headers_long_for_segments_short_for_playlists(world: World) -> None:
    video = await world.video()
    segment = await world.client.get(f"/hls/{video.id}/90p/seg_00002.m4s")
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, s-maxage=3600, immutable"
    playlist = await world.client.get(f"/hls/{video.id}/90p/index.m3u8")
    assert playlist.headers["Cache-Control"] == "public, max-age=5"


async def test_byte_ranges_and_conditional_requests(world: World) -> None:
    video = await world.video()
    data = (world.hls_source / "180p" / "seg_00001.m4s").read_bytes()
    url = f"/hls/{video.id}/180p/seg_00001.m4s"
    resp = await world.client.get(url, headers={"Range": "bytes=100-199"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert await resp.read() == data[100:200]
    tail = await world.client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status == 206 and await tail.read() == data[-50:]
    beyond = await world.client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status == 416
    etag = (await world.client.get(url)).headers["ETag"]
    assert (await world.client.get(url, headers={"If-None-Match": etag})).status == 304
    playlist = await world.client.get(f"/hls/{video.id}/master.m3u8")
    again = await world.client.get(f"/hls/{video.id}/master.m3u8", headers={"If-None-Match": playlist.headers["ETag"]})
    assert again.status == 304


async def test_cors_allow_list_and_preflight(world: World) -> None:
    world.svc.settings.streaming.cors_origins = "https://player.example, https://other.example"
    video = await world.video()
    url = f"/hls/{video.id}/master.m3u8"
    allowed = await world.client.get(url, headers={"Origin": "https://player.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://player.example"
    assert "Origin" in allowed.headers["Vary"]
    refused = await world.client.get(url, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = await world.client.options(url, headers={"Origin": "https://other.example",
                                                         "Access-Control-Request-Method": "GET",
                                                         "Access-Control-Request-Headers": "range"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://other.example"
    assert "Range" in preflight.headers["Access-Control-Allow-Headers"]


async def test_paths_that_leave_the_video_folder_are_404(world: World) -> None:
    video = await world.video()
    other = await world.video(title="Other")
    folder = world.svc.settings.media_root / "videos" / str(video.id) / "hls"
    os.symlink("/etc/passwd", folder / "passwd.vtt")
    os.symlink(world.svc.settings.media_root / "videos" / str(other.id) / "hls" / "poster.jpg", folder / "other.jpg")
    (folder / "link").symlink_to(world.svc.settings.data_dir)
    outside = world.svc.settings.data_dir / "outside"
    outside.mkdir()
    (outside / "escape.m4s").write_bytes(b"secret bytes")
    (folder / "out").symlink_to(outside)  # a folder link with a servable name behind it
    bad = [
        "../../../kdrama.db", "..%2f..%2f..%2fkdrama.db", "%2e%2e%2f%2e%2e%2fkdrama.db", "180p%2fseg_00001.m4s",
        "..%5C..%5Ckdrama.db", "%2Fetc%2Fpasswd", "180p/..%2Findex.m3u8", "seg_00001.m4s%00.m3u8",
        "180p/seg_00001.m4s%00", "passwd.vtt", "other.jpg", "link/kdrama.db", ".hidden.m3u8", "180p/./index.m3u8",
        "180p//index.m3u8", "master.m3u8.bak", "180p/index.M3U8x", "a/b/c/d.m4s", "180p\\index.m3u8",
        "out/escape.m4s",
    ]
    for path in bad:
        resp = await raw_get(world, f"/hls/{video.id}/{path}")
        assert resp.status in (400, 404), path
        assert "root:" not in await resp.text()
    # Another video's file through this video's id is not there either.
    assert (await raw_get(world, f"/hls/{video.id}/../{other.id}/hls/poster.jpg")).status == 404
    assert (await world.client.get(f"/hls/{video.id}/180p/index.m3u8")).status == 200
    # Once that playlist is in memory, an encoded name for it still is not a way in.
    for path in ("180p%2Findex.m3u8", "180p%2findex.m3u8", "%31%380p/index.m3u8"):
        assert (await raw_get(world, f"/hls/{video.id}/{path}")).status == 404, path


async def test_unknown_and_unready_videos_are_404(world: World) -> None:
    assert (await world.client.get("/hls/999999/master.m3u8")).status == 404
    assert (await world.client.get("/hls/abc/master.m3u8")).status == 404
    processing = await world.video(status="processing")
    assert (await world.client.get(f"/hls/{processing.id}/master.m3u8")).status == 404
    failed = await world.video(status="failed")
    assert (await world.client.get(f"/hls/{failed.id}/180p/seg_00001.m4s")).status == 404


async def test_no_database_query_per_segment_or_playlist(world: World) -> None:
    video = await world.video()
    assert (await world.client.get(f"/hls/{video.id}/master.m3u8")).status == 200
    assert (await world.client.get(f"/hls/{video.id}/180p/index.m3u8")).status == 200
    db = world.svc.db
    calls: list[str] = []
    originals = {name: getattr(db, name) for name in ("fetch_all", "fetch_one", "execute", "fetch_value")}

    def counting(name: str):
        async def wrapper(*args, **kwargs):
            calls.append(name)
            return await originals[name](*args, **kwargs)
        return wrapper

    for name in originals:
        setattr(db, name, counting(name))
    try:
        for n in range(1, 4):
            for rendition, *_ in RENDITIONS:
                assert (await world.client.get(f"/hls/{video.id}/{rendition}/seg_{n:05d}.m4s")).status == 200
                assert (await world.client.get(f"/hls/{video.id}/{rendition}/index.m3u8")).status == 200
        assert (await world.client.get(f"/hls/{video.id}/master.m3u8")).status == 200
    finally:
        for name, original in originals.items():
            setattr(db, name, original)
    assert calls == []


async def test_playlists_parse_and_every_listed_uri_is_served(world: World) -> None:
    video = await world.video()
    master_text = await (await world.client.get(f"/hls/{video.id}/master.m3u8")).text()
    master = m3u8.loads(master_text)
    assert len(master.playlists) == len(RENDITIONS)
    assert all(p.stream_info.codecs for p in master.playlists)
    assert {m.language for m in master.media if m.type == "SUBTITLES"} == {"ko", "en"}
    for playlist in master.playlists:
        text = await (await world.client.get(f"/hls/{video.id}/{playlist.uri}")).text()
        variant = m3u8.loads(text)
        folder = playlist.uri.rsplit("/", 1)[0]
        for uri in [variant.segment_map[0].uri, *(s.uri for s in variant.segments)]:
            assert (await world.client.get(f"/hls/{video.id}/{folder}/{uri}")).status == 200


async def test_stale_cache_is_dropped_by_events(world: World) -> None:
    """A change made by another part of this process (the pipeline) reaches the cache through its event."""
    video = await world.video()
    assert (await world.client.get(f"/hls/{video.id}/master.m3u8")).status == 200
    await repos_of(world.svc.db).videos.update(video.id, {"is_public": False})
    world.svc.events.publish("video.updated", video_id=video.id)
    for _ in range(50):  # the event is handled by a background task on the next loop turns
        resp = await world.client.get(f"/hls/{video.id}/master.m3u8")
        if resp.status == 401:
            break
    assert resp.status == 401


async def test_missing_file_of_a_ready_video_is_404(world: World, tmp_path: Path) -> None:
    video = await world.video()
    (world.svc.settings.media_root / "videos" / str(video.id) / "hls" / "90p" / "seg_00003.m4s").unlink()
    assert (await world.client.get(f"/hls/{video.id}/90p/seg_00003.m4s")).status == 404
    assert (await world.client.get(f"/hls/{video.id}/90p/seg_00009.m4s")).status == 404
