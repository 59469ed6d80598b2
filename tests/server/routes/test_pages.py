"""Viewer pages: catalog grid, search and filters, the watch page, private pages, escaping, hls.js origin."""

from __future__ import annotations

import json
import re

from kdrama_tui.server.routes.pages import HLSJS_DIR
from tests.support.world import World

EVIL = '<img src=x onerror="alert(1)">'


def _config(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="player-config">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))


async def test_catalog_page_lists_public_ready_videos_escaped(world: World) -> None:
    await world.video(title=f"Goblin {EVIL}", genre="Fantasy", year=2016)
    await world.video(title="사랑의 불시착", genre="Romance", year=2019)
    await world.video(title="Hidden one", is_public=False)
    resp = await world.client.get("/")
    page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "사랑의 불시착" in page and "Goblin &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert EVIL not in page and "Hidden one" not in page
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '<option value="Fantasy">' in page and '<option value="2019">' in page
    found = await (await world.client.get("/", params={"q": "불시착"})).text()
    assert "사랑의 불시착" in found and "Goblin" not in found
    filtered = await (await world.client.get("/", params={"genre": "Fantasy", "year": "2016"})).text()
    assert "Goblin" in filtered and "사랑의 불시착" not in filtered
    searched_evil = await (await world.client.get("/", params={"q": EVIL})).text()
    assert EVIL not in searched_evil
    assert (await world.client.get("/", params={"year": "nonsense", "page": "-3"})).status == 200


async def test_watch_page_of_a_public_video(world: World) -> None:
    video = await world.video(description=f"Story {EVIL}\nsecond line")
    resp = await world.client.get(f"/watch/{video.id}")
    page = await resp.text()
    assert resp.status == 200
    assert EVIL not in page and "Story &lt;img" in page
    config = _config(page)
    assert config["hlsUrl"] == f"/hls/{video.id}/master.m3u8"
    assert {s["lang"] for s in config["subtitles"]} == {"ko", "en"}
    assert config["thumbnailsVtt"] == f"/hls/{video.id}/thumbs/thumbs.vtt"
    assert '<script src="/static/vendor/hls.js/hls.min.js">' in page
    assert '<script src="/static/player.js">' in page


async def test_private_watch_page_needs_a_token(world: World) -> None:
    video = await world.video(is_public=False, title="Secret Title")
    resp = await world.client.get(f"/watch/{video.id}")
    page = await resp.text()
    assert resp.status == 403 and 'data-state="private"' in page
    assert "Secret Title" not in page and "player-config" not in page
    bad = await world.client.get(f"/watch/{video.id}", params={"token": "123.abc"})
    assert bad.status == 403 and "player-config" not in await bad.text()
    link = (await (await world.client.get(f"/api/videos/{video.id}/playback", headers=world.alice.headers)).json())
    watch = link["watch_url"].split(str(world.client.make_url("/")).rstrip("/"))[-1]
    ok = await world.client.get(watch)
    page = await ok.text()
    assert ok.status == 200 and "Secret Title" in page
    assert ok.headers["Cache-Control"] == "private, no-store"
    config = _config(page)
    assert config["hlsUrl"] == f"/hls/{video.id}/master.m3u8?token={link['token']}"
    assert all(s["url"].endswith(f"?token={link['token']}") for s in config["subtitles"])
    assert (await world.client.get(config["hlsUrl"])).status == 200


async def test_watch_page_of_missing_and_unready_videos(world: World) -> None:
    assert (await world.client.get("/watch/424242")).status == 404
    assert (await world.client.get("/watch/abc")).status == 404
    processing = await world.video(status="processing")
    page = await (await world.client.get(f"/watch/{processing.id}")).text()
    assert 'data-state="not-ready"' in page


async def test_hlsjs_and_static_files_come_from_this_origin(world: World) -> None:
    resp = await world.client.get("/static/vendor/hls.js/hls.min.js")
    assert resp.status == 200
    assert await resp.read() == (HLSJS_DIR / "hls.min.js").read_bytes()
    assert (await world.client.get("/static/player.js")).status == 200
    assert (await world.client.get("/static/app.css")).status == 200
    assert (await world.client.get("/static/../config.py")).status in (403, 404)


async def test_series_page_catalog_card_and_episode_watch_page(world: World) -> None:
    series = await world.svc.series.create({"title": f"Goblin {EVIL}", "native_title": "도깨비",
                                            "alt_titles": ["Guardian: The Lonely and Great God"],
                                            "synopsis": f"A goblin {EVIL}", "year": 2016, "network": "tvN"})
    second = await world.video(title="Goblin E02")
    first = await world.video(title="Goblin E01")
    hidden = await world.video(title="Goblin E03 private", is_public=False)
    lone = await world.video(title="A lone film")
    for number, video in ((2, second), (1, first), (3, hidden)):
        await world.svc.series.attach(series.id, {"video_id": video.id, "season": 1, "episode": number,
                                                  "episode_title": f"Part {number}"})
    await world.svc.series.set_segments(first.id, [{"type": "intro", "start": 0, "end": 3}])
    resp = await world.client.get(f"/series/{series.id}")
    page = await resp.text()
    assert resp.status == 200 and EVIL not in page and "Goblin &lt;img" in page and "A goblin &lt;img" in page
    assert "도깨비" in page and "Guardian: The Lonely and Great God" in page and "tvN" in page
    order = [int(m) for m in re.findall(r'class="episode" data-video-id="(\d+)"', page)]
    assert order == [first.id, second.id]  # in order, without the private one
    assert "Goblin E03 private" not in page and "Subtitles · 자막: English, 한국어" in page and "0:10" in page
    assert (await world.client.get("/series/424242")).status == 404
    assert (await world.client.get("/series/abc")).status == 404
    # The catalog: one card for the series, the lone video as before.
    home = await (await world.client.get("/")).text()
    assert home.count(f'data-series-id="{series.id}"') == 1 and f'href="/series/{series.id}"' in home
    assert f'href="/watch/{first.id}"' not in home and f'href="/watch/{lone.id}"' in home
    # An episode's watch page carries its series (for the next episode) and its segments.
    config = _config(await (await world.client.get(f"/watch/{first.id}")).text())
    assert config["seriesId"] == series.id
    assert config["segments"] == [{"type": "intro", "start": 0.0, "end": 3.0}]
    episodes = [e["video_id"] for s in config["series"]["seasons"] for e in s["episodes"]]
    assert episodes == [first.id, second.id]
    assert _config(await (await world.client.get(f"/watch/{lone.id}")).text())["seriesId"] is None
