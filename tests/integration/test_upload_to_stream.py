"""Upload -> transcode -> stream with the real pipeline on local storage, on SQLite and PostgreSQL.

A clip goes in (through Library.accept_original with Korean CP949 and English SRT sidecars, or through the
chunk API in shuffled chunks), the queue runs real ffmpeg, and a client then follows the playback API's
URLs through every playlist, init segment, segment and subtitle the app serves, public and private.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from kdrama_tui.services.library.metadata import VideoMetadata
from tests.support.e2e import ENGLISH_LINES, KOREAN_LINES, upload_via_chunks, walk_hls
from tests.support.uploads import Account


async def _accept_with_subtitles(svc: Services, clip: Path, subtitles: dict[str, Path], owner: Account, *,
                                 is_public: bool = True) -> int:
    accepted = await svc.library.accept_original(
        uploader_id=owner.user_id, source=clip, original_filename="사랑의 불시착 E01.mp4",
        metadata=VideoMetadata(title="사랑의 불시착 1화", is_public=is_public),
        sidecars=[SubtitleSidecar(subtitles["ko"], "ko", "한국어"), SubtitleSidecar(subtitles["en"], "en", "English")],
        move=False)
    return accepted.video.id


async def _ready(svc: Services, video_id: int) -> None:
    assert await svc.media.queue.run_until_idle() == 1
    video = await repos_of(svc.db).videos.get(video_id)
    assert video.status == "ready", video
    assert video.duration_seconds is not None and 3 <= video.duration_seconds <= 5


async def test_accepted_clip_with_korean_and_english_subtitles_streams(
        svc: Services, client: TestClient, alice: Account, clip: Path, subtitles: dict[str, Path]) -> None:
    video_id = await _accept_with_subtitles(svc, clip, subtitles, alice)
    await _ready(svc, video_id)

    resp = await client.get(f"/api/videos/{video_id}/playback")
    assert resp.status == 200
    playback = await resp.json()
    assert playback["token"] is None
    assert playback["hls_url"].endswith(f"/hls/{video_id}/master.m3u8")
    assert {s["lang"]: s["label"] for s in playback["subtitles"]} == {"ko": "한국어", "en": "English"}

    walk = await walk_hls(client, playback["hls_url"])
    variants = walk.master.playlists
    assert len(variants) == 2
    assert all(v.stream_info.codecs and "avc1" in v.stream_info.codecs and "mp4a" in v.stream_info.codecs
               for v in variants)
    assert sorted(v.stream_info.resolution[1] for v in variants) == [144, 180]
    groups = {v.stream_info.subtitles for v in variants}
    assert len(groups) == 1 and None not in groups
    subs = {m.language: m for m in walk.master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"ko", "en"} and {m.group_id for m in subs.values()} == groups
    # 4 s in 1 s segments: every rendition has its init segment and several media segments, all fetched.
    for path, playlist in walk.variants.items():
        if path.endswith(("ko.m3u8", "en.m3u8")):
            continue
        assert len(playlist.segments) >= 3 and playlist.is_endlist
        assert abs(sum(s.duration for s in playlist.segments) - 4) < 0.6
    segments = [p for p in walk.media if p.endswith(".m4s")]
    assert len(segments) >= 6 and len([p for p in walk.media if p.endswith("init.mp4")]) == 2

    korean_vtt = next(body for path, body in walk.media.items() if path.endswith(".vtt") and "ko" in path)
    text = korean_vtt.decode("utf-8")  # served as UTF-8 WebVTT, decoded from the CP949 source
    assert text.startswith("WEBVTT")
    assert all(line in text for line in KOREAN_LINES)
    english_vtt = next(body for path, body in walk.media.items() if path.endswith(".vtt") and "en" in path)
    assert all(line in english_vtt.decode("utf-8") for line in ENGLISH_LINES)
    # The playback API's direct subtitle URL gives the same Korean text.
    ko_url = urlsplit(next(s["url"] for s in playback["subtitles"] if s["lang"] == "ko")).path
    direct = await client.get(ko_url)
    assert direct.status == 200 and direct.content_type == "text/vtt"
    assert KOREAN_LINES[0] in await direct.text()
    poster = await client.get(urlsplit(playback["thumbnail_url"]).path)
    assert poster.status == 200 and poster.content_type == "image/jpeg"
    assert (await poster.read())[:3] == b"\xff\xd8\xff"


async def test_chunk_uploaded_clip_becomes_ready_and_streams(
        svc: Services, client: TestClient, alice: Account, clip: Path) -> None:
    data = clip.read_bytes()
    video_id = await upload_via_chunks(client, alice, data, chunks=5, title="Goblin 도깨비")
    await _ready(svc, video_id)
    playback = await (await client.get(f"/api/videos/{video_id}/playback")).json()
    walk = await walk_hls(client, playback["hls_url"])
    assert len(walk.master.playlists) == 2
    assert all(v.stream_info.codecs for v in walk.master.playlists)
    assert len([p for p in walk.media if p.endswith(".m4s")]) >= 6
    # The original the pipeline read is byte-identical to the uploaded file.
    original = (await repos_of(svc.db).video_files.find_by_video(video_id, "original"))[0]
    path = svc.storage.local_path(original.file_path)
    assert path is not None and path.read_bytes() == data


async def test_private_video_streams_only_with_its_token(
        svc: Services, client: TestClient, alice: Account, bob: Account, clip: Path,
        subtitles: dict[str, Path]) -> None:
    video_id = await _accept_with_subtitles(svc, clip, subtitles, alice, is_public=False)
    await _ready(svc, video_id)
    assert (await client.get(f"/api/videos/{video_id}/playback")).status == 404
    assert (await client.get(f"/api/videos/{video_id}/playback", headers=bob.headers)).status == 403
    resp = await client.get(f"/api/videos/{video_id}/playback", headers=alice.headers)
    assert resp.status == 200
    playback = await resp.json()
    token = playback["token"]
    assert token and parse_qs(urlsplit(playback["hls_url"]).query)["token"] == [token]
    assert all(parse_qs(urlsplit(s["url"]).query)["token"] == [token] for s in playback["subtitles"])

    walk = await walk_hls(client, playback["hls_url"])  # follows the tokenised URIs the playlists carry
    for playlist in [walk.master, *walk.variants.values()]:
        uris = [p.uri for p in playlist.playlists] + [m.uri for m in playlist.media if m.uri] + \
               [s.uri for s in playlist.segments] + [m.uri for m in playlist.segment_map]
        assert uris and all(parse_qs(urlsplit(u).query).get("token") == [token] for u in uris)
    korean = next(body for path, body in walk.media.items() if path.endswith(".vtt") and "ko" in path)
    assert KOREAN_LINES[1] in korean.decode("utf-8")

    # The same paths without the token: 401; with a token of another video: 403.
    other = await _accept_with_subtitles(svc, clip, subtitles, alice, is_public=False)
    await _ready(svc, other)
    foreign = (await (await client.get(f"/api/videos/{other}/playback", headers=alice.headers)).json())["token"]
    paths = ["master.m3u8", *walk.variants, *walk.media]
    assert len(paths) >= 12
    for path in paths:
        url = f"/hls/{video_id}/{path}"
        bare = await client.get(url)
        assert bare.status == 401, path
        assert b"#EXTM3U" not in await bare.read()
        assert (await client.get(url, headers=alice.headers)).status == 401, path  # an API key is no token
        assert (await client.get(url, params={"token": foreign})).status == 403, path
        assert (await client.get(url, params={"token": token})).status == 200, path


async def test_missing_files_reread_the_rows_at_most_once_a_second(
        svc: Services, client: TestClient, alice: Account, clip: Path) -> None:
    """A 404 makes /hls check whether the video moved to another storage (a migration by another process),
    but a flood of requests for files that do not exist costs one database read, not one each."""
    video_id = await upload_via_chunks(client, alice, clip.read_bytes(), chunks=2)
    await _ready(svc, video_id)
    assert (await client.get(f"/hls/{video_id}/master.m3u8")).status == 200
    await asyncio.sleep(1.1)
    before = svc.playback.stats["access_loads"]
    for n in range(20):
        assert (await client.get(f"/hls/{video_id}/180p/seg_{90000 + n:05d}.m4s")).status == 404
    assert svc.playback.stats["access_loads"] - before == 1
    assert (await client.get(f"/hls/{video_id}/180p/seg_00001.m4s")).status == 200
