"""Private videos: every playlist, segment, subtitle and image refuses a missing, foreign, forged or
expired token, and the token is carried into every URI of every playlist served."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import m3u8
import pytest

from kdrama_tui.services.playback.tokens import PlaybackTokens
from tests.support.hls import SECONDS
from tests.support.world import World

FILES = ["master.m3u8", "180p/index.m3u8", "180p/init.mp4", "180p/seg_00001.m4s", "90p/seg_00003.m4s",
         "subs/ko.m3u8", "subs/ko.vtt", "subs/en.vtt", "poster.jpg", "thumbs/sprite.jpg", "thumbs/thumbs.vtt"]


async def _token(world: World, video_id: int, account=None) -> str:
    resp = await world.client.get(f"/api/videos/{video_id}/playback", headers=(account or world.alice).headers)
    assert resp.status == 200
    return (await resp.json())["token"]


async def test_every_file_refuses_requests_without_a_valid_token(world: World) -> None:
    private = await world.video(is_public=False)
    other = await world.video(is_public=False, title="Another private one")
    good = await _token(world, private.id)
    foreign = await _token(world, other.id)
    tokens = world.svc.playback.tokens
    expired, _ = tokens.issue(private.id, now=time.time() - tokens.lifetime_seconds - 5)
    expires, mac = good.split(".")
    tampered_mac = f"{expires}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
    extended = f"{int(expires) + 3600}.{mac}"
    forged_key, _ = PlaybackTokens(b"k" * 32, 600).issue(private.id)
    bad_tokens = {"foreign": foreign, "expired": expired, "tampered": tampered_mac, "extended": extended,
                  "forged": forged_key, "garbage": "garbage", "empty-mac": f"{expires}.", "huge": "9" * 500,
                  "session": world.alice.key}
    # The second round finds the playlists in memory (the fast path): the same refusals must hold there.
    for _round in ("cold", "cached"):
        for path in FILES:
            url = f"/hls/{private.id}/{path}"
            resp = await world.client.get(url)
            assert resp.status == 401, path
            assert resp.headers["Cache-Control"] == "no-store"
            assert b"#EXTM3U" not in await resp.read()
            for name, token in bad_tokens.items():
                resp = await world.client.get(url, params={"token": token})
                assert resp.status == 403, (path, name)
                body = await resp.read()
                assert b"#EXT" not in body and b"WEBVTT" not in body and len(body) < 300
            # An API key or session header does not stand in for the token either.
            assert (await world.client.get(url, headers=world.alice.headers)).status == 401
            ok = await world.client.get(url, params={"token": good})
            assert ok.status == 200, path
            assert ok.headers["Cache-Control"].startswith("private")
    assert world.svc.playback.fresh_text(private.id, "master.m3u8") is not None


async def test_token_for_a_public_video_does_not_open_a_private_one(world: World) -> None:
    public = await world.video()
    private = await world.video(is_public=False)
    token, _ = world.svc.playback.tokens.issue(public.id)
    assert (await world.client.get(f"/hls/{private.id}/master.m3u8", params={"token": token})).status == 403


async def test_token_is_written_into_every_uri_and_the_chain_plays(world: World) -> None:
    private = await world.video(is_public=False)
    token = await _token(world, private.id)
    base = f"/hls/{private.id}/"

    def check(uri: str) -> str:
        parts = urlsplit(uri)
        assert parse_qs(parts.query)["token"] == [token], uri
        return parts.path

    master = m3u8.loads(await (await world.client.get(base + "master.m3u8", params={"token": token})).text())
    uris = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    assert len(uris) == 4
    fetched = 0
    for uri in uris:
        resp = await world.client.get(base + uri)  # exactly as listed: the token rides along
        assert resp.status == 200, uri
        playlist = m3u8.loads(await resp.text())
        folder = check(uri).rsplit("/", 1)[0]
        children = [s.uri for s in playlist.segments] + [m.uri for m in playlist.segment_map]
        assert children
        for child in children:
            check(child)
            media = await world.client.get(f"{base}{folder}/{child}")
            assert media.status == 200, child
            fetched += 1
    assert fetched >= 10
    thumbs = await (await world.client.get(base + "thumbs/thumbs.vtt", params={"token": token})).text()
    cue_uris = [line for line in thumbs.splitlines() if line.startswith("sprite.jpg")]
    assert cue_uris and all(f"?token={token}#xywh=" in line for line in cue_uris)
    sprite = await world.client.get(base + "thumbs/" + cue_uris[0].split("#")[0])
    assert sprite.status == 200 and sprite.content_type == "image/jpeg"


async def test_public_playlists_are_served_as_stored(world: World) -> None:
    public = await world.video()
    body = await (await world.client.get(f"/hls/{public.id}/master.m3u8", params={"token": "whatever"})).read()
    assert body == (world.hls_source / "master.m3u8").read_bytes()


async def test_making_a_video_private_applies_at_once(world: World) -> None:
    video = await world.video()
    url = f"/hls/{video.id}/180p/seg_00001.m4s"
    assert (await world.client.get(url)).status == 200
    resp = await world.client.patch(f"/api/videos/{video.id}", json={"is_public": False}, headers=world.alice.headers)
    assert resp.status == 200
    assert (await world.client.get(url)).status == 401
    assert (await world.client.get(f"/hls/{video.id}/master.m3u8")).status == 401


async def test_playback_api_gives_urls_only_to_owner_and_admin(world: World) -> None:
    private = await world.video(is_public=False)
    assert (await world.client.get(f"/api/videos/{private.id}/playback")).status == 404
    assert (await world.client.get(f"/api/videos/{private.id}/playback", headers=world.bob.headers)).status == 403
    for account in (world.alice, world.admin):
        resp = await world.client.get(f"/api/videos/{private.id}/playback", headers=account.headers)
        data = await resp.json()
        assert resp.status == 200
        assert set(data) >= {"hls_url", "thumbnail_url", "subtitles", "duration_seconds"}
        token = data["token"]
        assert data["hls_url"].endswith(f"/hls/{private.id}/master.m3u8?token={token}")
        assert data["thumbnail_url"].endswith(f"poster.jpg?token={token}")
        assert {s["lang"]: s["label"] for s in data["subtitles"]} == {"ko": "한국어", "en": "English"}
        assert all(s["url"].endswith(f".vtt?token={token}") for s in data["subtitles"])
        assert data["watch_url"].endswith(f"/watch/{private.id}?token={token}")
        assert data["duration_seconds"] == SECONDS


async def test_playback_api_for_public_and_unready_videos(world: World) -> None:
    public = await world.video()
    data = await (await world.client.get(f"/api/videos/{public.id}/playback")).json()
    assert "token=" not in data["hls_url"] and data["token"] is None
    assert (await world.client.session.get(data["hls_url"])).status == 200
    processing = await world.video(status="processing")
    resp = await world.client.get(f"/api/videos/{processing.id}/playback", headers=world.alice.headers)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "video_not_ready"


async def test_tokens_never_reach_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    private = await world.video(is_public=False)
    token = await _token(world, private.id)
    await world.client.get(f"/hls/{private.id}/master.m3u8", params={"token": token})
    await world.client.get(f"/hls/{private.id}/nothing.m4s", params={"token": token})
    await world.client.get(f"/hls/{private.id}/master.m3u8", params={"token": token + "x"})
    # The test server keeps aiohttp's access log on; the real runner (server.app.start_http) turns it off.
    records = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert all(token not in record.getMessage() for record in records)
