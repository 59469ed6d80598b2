"""View beacons (clamped, throttled, batched) and comments (moderated, limited, escaped)."""

from __future__ import annotations

import asyncio

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog import analytics as analytics_module
from tests.support.hls import SECONDS
from tests.support.world import World


async def _views(world: World, video_id: int) -> list:
    await world.svc.analytics.flush()
    return await repos_of(world.svc.db).analytics.list({"video_id": video_id}, order_by="id")


async def test_beacon_records_ip_agent_and_clamped_duration(world: World) -> None:
    video = await world.video()  # 6 seconds long
    url = f"/api/videos/{video.id}/views"
    for duration in (4, -30, 10**9, 2.7):
        resp = await world.client.post(url, json={"watch_duration": duration}, headers={"User-Agent": "TestTV/1"})
        assert resp.status == 204
    # sendBeacon posts text/plain; the body is still JSON.
    plain = await world.client.post(url, data='{"watch_duration": 3}', headers={"Content-Type": "text/plain"})
    assert plain.status == 204
    rows = await _views(world, video.id)
    assert [r.watch_duration for r in rows] == [4, 0, SECONDS + analytics_module.DURATION_MARGIN, 2, 3]
    assert all(r.ip_address == "127.0.0.1" for r in rows)
    assert rows[0].user_agent == "TestTV/1"
    for bad in ({"watch_duration": "long"}, {"watch_duration": True}, [1]):
        assert (await world.client.post(url, json=bad)).status == 400
    assert (await world.client.post(url, data=b"{oops")).status == 400
    assert (await world.client.post(url, data=b"x" * 10_000)).status == 413
    assert (await world.client.post("/api/videos/99999/views", json={"watch_duration": 1})).status == 404


async def test_flood_from_one_address_is_dropped(world: World) -> None:
    world.svc.analytics.limiter.limit = 5
    video = await world.video()
    for _ in range(12):
        assert (await world.client.post(f"/api/videos/{video.id}/views", json={"watch_duration": 1})).status == 204
    assert len(await _views(world, video.id)) == 5
    assert world.svc.analytics.dropped == 7


async def test_forwarded_for_only_from_trusted_proxies(world: World) -> None:
    world.svc.analytics.limiter.limit = 1000
    video = await world.video()
    url = f"/api/videos/{video.id}/views"
    await world.client.post(url, json={"watch_duration": 1}, headers={"X-Forwarded-For": "203.0.113.9"})
    world.svc.settings.security.trusted_proxies = ["127.0.0.1/32"]
    await world.client.post(url, json={"watch_duration": 1}, headers={"X-Forwarded-For": "198.51.100.7, 127.0.0.1"})
    assert [r.ip_address for r in await _views(world, video.id)] == ["127.0.0.1", "198.51.100.7"]


async def test_beacons_are_written_in_batches_by_the_background_writer(world: World) -> None:
    video = await world.video()
    db = world.svc.db
    batches: list[int] = []
    original = db.execute_many

    async def counting(sql, params):
        batches.append(len(params))
        return await original(sql, params)

    db.execute_many = counting
    try:
        for ip in range(40):
            await world.svc.analytics.record(video.id, 3, ip=f"10.0.0.{ip}", user_agent="x")
        for _ in range(100):  # the writer flushes within about a second
            if await repos_of(db).analytics.count({"video_id": video.id}) == 40:
                break
            await asyncio.sleep(0.05)
    finally:
        db.execute_many = original
    assert await repos_of(db).analytics.count({"video_id": video.id}) == 40
    assert sum(batches) == 40 and len(batches) <= 2


async def test_statistics_per_day_today_and_per_video(world: World) -> None:
    a = await world.video()
    b = await world.video(title="B")
    for ip, (video, seconds) in enumerate([(a, 5), (a, 3), (b, 6)]):
        await world.svc.analytics.record(video.id, seconds, ip=f"10.1.0.{ip}", user_agent=None)
    await world.svc.analytics.flush()
    analytics = world.svc.analytics
    assert await analytics.views_today() == 3
    assert await analytics.views_for_video(a.id) == {"views": 2, "watch_seconds": 8, "viewers": 2}
    days = await analytics.views_per_day(7)
    assert len(days) == 7 and days[-1]["views"] == 3 and sum(d["views"] for d in days[:-1]) == 0
    assert (await analytics.views_per_day(3, video_id=b.id))[-1] == {"day": days[-1]["day"], "views": 1,
                                                                      "watch_seconds": 6}
    top = await analytics.top_videos()
    assert [(t["video_id"], t["views"]) for t in top] == [(a.id, 2), (b.id, 1)]


async def test_anonymous_comments_wait_for_approval(world: World) -> None:
    video = await world.video()
    url = f"/api/videos/{video.id}/comments"
    resp = await world.client.post(url, json={"content": "  <script>alert(1)</script> 최고!  "})
    assert resp.status == 201
    comment = await resp.json()
    assert comment["is_approved"] is False and comment["content"] == "<script>alert(1)</script> 최고!"
    assert (await (await world.client.get(url)).json())["items"] == []
    pending = await (await world.client.get("/api/comments", headers=world.admin.headers)).json()
    assert [c["id"] for c in pending["items"]] == [comment["id"]]
    assert (await world.client.get("/api/comments", headers=world.alice.headers)).status == 403
    assert (await world.client.patch(f"/api/comments/{comment['id']}", json={"is_approved": True},
                                     headers=world.alice.headers)).status == 403
    resp = await world.client.patch(f"/api/comments/{comment['id']}", json={"is_approved": True},
                                    headers=world.admin.headers)
    assert resp.status == 200
    assert [c["content"] for c in (await (await world.client.get(url)).json())["items"]] == [comment["content"]]
    # The watch page shows it escaped.
    page = await (await world.client.get(f"/watch/{video.id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 최고!" in page and "<script>alert(1)" not in page
    # Hide it again, then delete it.
    await world.client.patch(f"/api/comments/{comment['id']}", json={"is_approved": False}, headers=world.admin.headers)
    assert (await (await world.client.get(url)).json())["items"] == []
    assert (await world.client.delete(f"/api/comments/{comment['id']}", headers=world.admin.headers)).status == 204
    assert (await world.client.patch(f"/api/comments/{comment['id']}", json={"is_approved": True},
                                     headers=world.admin.headers)).status == 404


async def test_signed_in_comments_start_approved(world: World) -> None:
    video = await world.video()
    resp = await world.client.post(f"/api/videos/{video.id}/comments", json={"content": "좋아요"},
                                   headers=world.bob.headers)
    assert (await resp.json())["is_approved"] is True
    items = (await (await world.client.get(f"/api/videos/{video.id}/comments")).json())["items"]
    assert [(c["content"], c["user_id"]) for c in items] == [("좋아요", world.bob.user.id)]


async def test_comment_validation_and_rate_limit(world: World) -> None:
    video = await world.video()
    url = f"/api/videos/{video.id}/comments"
    limit = world.svc.settings.streaming.comment_max_length
    assert (await world.client.post(url, json={"content": "가" * limit})).status == 201
    resp = await world.client.post(url, json={"content": "가" * (limit + 1)})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "comment_too_long"
    for bad in ({"content": "   "}, {"content": 5}, {}, {"content": "\x00\x01"}):
        assert (await world.client.post(url, json=bad)).status == 400, bad
    assert (await world.client.post("/api/videos/4242/comments", json={"content": "hi"})).status == 404
    for _ in range(world.svc.settings.streaming.comments_per_ip_per_minute - 1):
        assert (await world.client.post(url, json={"content": "more"})).status == 201
    resp = await world.client.post(url, json={"content": "one too many"})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    allowed = world.svc.settings.streaming.comments_per_ip_per_minute
    assert await repos_of(world.svc.db).comments.count({"video_id": video.id}) == allowed


async def test_private_video_comments_need_the_playback_token(world: World) -> None:
    video = await world.video(is_public=False)
    url = f"/api/videos/{video.id}/comments"
    assert (await world.client.get(url)).status == 404
    assert (await world.client.post(url, json={"content": "hi"})).status == 404
    assert (await world.client.get(url, params={"token": "1.abc"})).status == 403
    token, _ = world.svc.playback.tokens.issue(video.id)
    assert (await world.client.get(url, params={"token": token})).status == 200
    assert (await world.client.post(url, params={"token": token}, json={"content": "hi"})).status == 201
    assert (await world.client.get(url, headers=world.alice.headers)).status == 200
