"""The viewer in a real headless Chromium: search, play with hls.js, subtitles with cues, private refusal."""

from __future__ import annotations

from playwright.async_api import Page

from kdrama_tui.repositories import repos_of
from tests.support.browser import wait_for
from tests.support.hls import SECONDS
from tests.support.world import World


def _origin(world: World) -> str:
    return str(world.client.make_url("/")).rstrip("/")


async def test_search_open_and_play_with_subtitles(world: World, page: Page) -> None:
    video = await world.video(title="사랑의 불시착 Crash Landing", description="A paraglider's story")
    await world.video(title="Goblin 도깨비", genre="Fantasy")
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    await page.goto(_origin(world) + "/")
    await page.fill("input[name=q]", "불시착")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url("**/?q=*")
    cards = page.locator(".card")
    assert await cards.count() == 1
    await cards.first.locator("a").click()
    await page.wait_for_url(f"**/watch/{video.id}")
    await wait_for(page, "document.getElementById('quality').options.length === 3")  # Auto + 2 renditions
    # it starts on arrival (no click)
    await wait_for(page, "document.getElementById('video').currentTime > 3", timeout=30_000)
    # Keyboard, at once (the clip is 6 s): space pauses, the position is remembered per video, m toggles the sound.
    await page.locator("#player").focus()
    await page.keyboard.press(" ")
    await wait_for(page, "document.getElementById('video').paused")
    paused_at = await page.evaluate("document.getElementById('video').currentTime")
    # `paused` flips at once; the "pause" event that saves the position follows as a separate task.
    saved_js = f"(kdState.progress({video.id}) || {{p: 0}}).p"
    await wait_for(page, f"Math.abs({saved_js} - {paused_at}) < 0.2")
    saved = await page.evaluate(saved_js)
    assert 3 <= saved <= SECONDS - 1 and abs(saved - paused_at) < 0.2
    # m toggles the sound (this browser started the video muted: it refuses sound without a click).
    assert await page.evaluate("document.getElementById('video').muted") is True
    await page.keyboard.press("m")
    assert await page.evaluate("document.getElementById('video').muted") is False
    await page.keyboard.press("m")
    assert await page.evaluate("document.getElementById('video').muted") is True
    tracks = await page.evaluate(
        """() => Array.from(document.getElementById('video').textTracks).map(
               t => ({lang: t.language, label: t.label, mode: t.mode, cues: t.cues ? t.cues.length : 0}))""")
    assert {t["lang"] for t in tracks} >= {"ko", "en"}
    await wait_for(page,
        "Array.from(document.getElementById('video').textTracks).some(t => t.cues && t.cues.length > 0)",
        timeout=15_000)
    cues = await page.evaluate(
        """() => Array.from(document.getElementById('video').textTracks)
                  .filter(t => t.cues && t.cues.length).flatMap(t => Array.from(t.cues).map(c => c.text))""")
    assert any("Hello" in c or "안녕하세요" in c for c in cues)
    # Switch to Korean through the menu: its cues load too.
    korean = await page.evaluate("""() => Array.from(document.getElementById('subtitles').options)
                                         .find(o => o.text === '한국어').value""")
    await page.select_option("#subtitles", korean)
    await wait_for(page,
        """Array.from(document.getElementById('video').textTracks)
             .some(t => t.language === 'ko' && t.mode === 'showing' && t.cues && t.cues.length > 0)""", timeout=15_000)
    # Seek previews come from thumbs.vtt + the sprite.
    box = await page.locator("#seek").bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    await wait_for(page, "!document.getElementById('preview').hidden && "
                                 "document.querySelector('.preview-image').style.backgroundImage.includes('sprite.jpg')")
    # Leaving the page sends the view beacon.
    await page.goto(_origin(world) + "/")
    await world.svc.analytics.flush()
    for _ in range(50):
        if await repos_of(world.svc.db).analytics.count({"video_id": video.id}):
            break
        await page.wait_for_timeout(100)
        await world.svc.analytics.flush()
    views = await repos_of(world.svc.db).analytics.list({"video_id": video.id})
    assert len(views) == 1 and 3 <= views[0].watch_duration <= SECONDS
    # Coming back resumes where the viewer paused.
    await page.goto(f"{_origin(world)}/watch/{video.id}")
    await wait_for(page, f"Math.abs(document.getElementById('video').currentTime - {saved}) < 0.5")
    assert console == [], console


async def test_private_video_without_token_does_not_play(world: World, page: Page) -> None:
    video = await world.video(is_public=False, title="Secret")
    hls_requests: list[tuple[str, int]] = []
    page.on("response", lambda r: hls_requests.append((r.url, r.status)) if "/hls/" in r.url else None)
    response = await page.goto(f"{_origin(world)}/watch/{video.id}")
    assert response is not None and response.status == 403
    assert await page.locator("[data-state=private]").count() == 1
    assert await page.locator("video").count() == 0
    assert "Secret" not in await page.content()
    # Even a player pointed at the playlist by hand gets nothing.
    status = await page.evaluate(f"fetch('/hls/{video.id}/master.m3u8').then(r => r.status)")
    assert status == 401
    assert all(code in (401, 403) for _, code in hls_requests)


async def test_private_video_plays_with_the_owners_link(world: World, page: Page) -> None:
    video = await world.video(is_public=False, title="Shared privately")
    link = await (await world.client.get(f"/api/videos/{video.id}/playback", headers=world.alice.headers)).json()
    await page.goto(link["watch_url"])
    # it starts on arrival (no click)
    await wait_for(page, "document.getElementById('video').currentTime > 1", timeout=30_000)


async def test_autoplay_falls_back_to_muted_with_an_unmute_button(world: World, page: Page) -> None:
    """The browser fixture refuses sound without a click (Chrome's way on a site not yet used): the video
    still starts on arrival, muted, with a visible unmute button."""
    video = await world.video(title="Autoplay")
    await page.goto(f"{_origin(world)}/watch/{video.id}")
    await wait_for(page, "document.getElementById('video').currentTime > 0.3", timeout=30_000)
    assert await page.evaluate("document.getElementById('video').muted") is True
    assert await page.is_visible("#unmute")
    await page.click("#unmute")
    assert await page.evaluate("document.getElementById('video').muted") is False
    assert await page.is_hidden("#unmute")
