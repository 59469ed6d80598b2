"""CDN-safe caching: a shared cache (a CDN edge) keeps public media at most ``[streaming] cdn_max_age``
(s-maxage), so a video made private or deleted stops playing from the edge within it; private media are
never stored by a shared cache."""

from __future__ import annotations

from tests.support.world import World

SEGMENT, SUBTITLE, IMAGE, PLAYLIST = "90p/seg_00002.m4s", "subs/ko.vtt", "poster.jpg", "90p/index.m3u8"


async def _cache_control(world: World, video_id: int, path: str, token: str | None = None) -> str:
    resp = await world.client.get(f"/hls/{video_id}/{path}" + (f"?token={token}" if token else ""))
    assert resp.status == 200, path
    return resp.headers["Cache-Control"]


async def test_public_segments_are_kept_by_shared_caches_for_cdn_max_age_only(world: World) -> None:
    video = await world.video()
    assert world.svc.settings.streaming.cdn_max_age == 3600  # the default: one hour at the edge
    assert await _cache_control(world, video.id, SEGMENT) == "public, max-age=31536000, s-maxage=3600, immutable"
    assert await _cache_control(world, video.id, PLAYLIST) == "public, max-age=5"  # shorter than the edge's

    world.svc.settings.streaming.cdn_max_age = 60
    assert await _cache_control(world, video.id, SEGMENT) == "public, max-age=31536000, s-maxage=60, immutable"
    assert await _cache_control(world, video.id, SUBTITLE) == "public, max-age=3600, s-maxage=60"
    assert await _cache_control(world, video.id, IMAGE) == "public, max-age=3600, s-maxage=60"


async def test_private_media_are_never_for_shared_caches(world: World) -> None:
    video = await world.video(is_public=False)
    token, _ = world.svc.playback.tokens.issue(video.id)
    for path in (SEGMENT, SUBTITLE, IMAGE, PLAYLIST, "master.m3u8"):
        value = await _cache_control(world, video.id, path, token)
        assert value.startswith("private, ") and "public" not in value and "s-maxage" not in value, (path, value)
