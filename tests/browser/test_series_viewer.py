"""A viewer watching a series in real Chromium: next episode with the same subtitles, Continue watching,
dual subtitles, skip intro, and moving progress to another browser by a code."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from kdrama_tui.models import Video
from tests.support.browser import wait_for
from tests.support.world import World

VIDEO = "document.getElementById('video')"


def _origin(world: World) -> str:
    return str(world.client.make_url("/")).rstrip("/")


async def _series(world: World, episodes: int, title: str = "Sample Drama") -> tuple[int, list[Video]]:
    series = await world.svc.series.create({"title": title, "native_title": "샘플 드라마",
                                            "alt_titles": ["Saempeul Deurama"], "synopsis": "Two episodes."})
    videos = []
    for number in range(1, episodes + 1):
        video = await world.video(title=f"{title} S01E{number:02d}")
        await world.svc.series.attach(series.id, {"video_id": video.id, "season": 1, "episode": number,
                                                  "episode_title": f"Part {number}"})
        videos.append(video)
    return series.id, videos


async def _select_by_text(page: Page, select: str, text: str) -> None:
    value = await page.evaluate(f"""() => Array.from(document.querySelector('{select}').options)
                                           .find(o => o.text === {text!r}).value""")
    await page.select_option(select, value)


async def test_finishing_an_episode_plays_the_next_with_the_same_subtitles(world: World, page: Page) -> None:
    series_id, (first, second) = await _series(world, 2)
    await page.goto(f"{_origin(world)}/watch/{first.id}")
    await wait_for(page, f"{VIDEO}.currentTime > 0.3", timeout=30_000)  # it starts on arrival
    await wait_for(page, "document.getElementById('subtitles').options.length > 2")
    await _select_by_text(page, "#subtitles", "한국어")  # not what this en-US browser would pick itself
    assert (await page.get_attribute("#next-link", "href") or "").endswith(f"/watch/{second.id}")
    # Inside the last seconds the countdown shows (paused here, so it waits for the click); cancelled,
    # the episode does not move on.
    await page.evaluate(f"{VIDEO}.pause(); {VIDEO}.currentTime = 6")
    await page.wait_for_selector("#next-up", state="visible")
    assert "Part 2" in await page.text_content("#next-title")
    await page.click("#next-cancel")
    assert await page.is_hidden("#next-up")
    # Going back re-arms it; finishing the episode starts the next one.
    await page.evaluate(f"{VIDEO}.currentTime = 1")
    await wait_for(page, f"{VIDEO}.currentTime < 3 && !{VIDEO}.seeking")
    await page.evaluate(f"{VIDEO}.play(); {VIDEO}.currentTime = {VIDEO}.duration - 1.5")
    await page.wait_for_url(f"**/watch/{second.id}", timeout=20_000)
    await wait_for(page, f"{VIDEO}.currentTime > 0.3", timeout=30_000)
    await wait_for(page, f"""Array.from({VIDEO}.textTracks)
        .some(t => t.language === 'ko' && t.mode === 'showing' && t.cues && t.cues.length > 0)""", timeout=15_000)
    chosen = await page.evaluate("""() => { const m = document.getElementById('subtitles');
                                           return m.options[m.selectedIndex].text; }""")
    assert chosen == "한국어"
    assert await page.evaluate(f"kdState.watched(kdState.progress({first.id}))") is True
    # Home: the series under Continue watching, pointing at episode 2, and as one card in the catalog.
    await page.goto(_origin(world) + "/")
    await page.wait_for_selector("#continue[data-ready]", state="attached")
    cards = page.locator("#continue-list .continue-card")
    assert await cards.count() == 1
    assert (await cards.first.locator("a").get_attribute("href") or "").endswith(f"/watch/{second.id}")
    assert "E2" in await cards.first.locator(".meta").text_content()
    assert await page.locator(f".series-card[data-series-id='{series_id}']").count() == 1
    assert await page.locator(".grid .card:not(.series-card):not(.continue-card)").count() == 0
    # Removed, it stays away after a reload.
    await cards.first.locator(".remove").click()
    await page.reload()
    await page.wait_for_selector("#continue[data-ready]", state="attached")
    assert await page.locator("#continue-list .continue-card").count() == 0
    # The series page marks episode 1 watched.
    await page.goto(f"{_origin(world)}/series/{series_id}")
    assert await page.is_visible(f".episode[data-video-id='{first.id}'] .watched")
    assert await page.is_hidden(f".episode[data-video-id='{second.id}'] .watched")
    assert "Saempeul Deurama" in await page.text_content(".alt-titles")
    # The last episode: its end leads nowhere.
    await page.goto(f"{_origin(world)}/watch/{second.id}")
    await wait_for(page, f"{VIDEO}.currentTime > 0.3", timeout=30_000)
    await page.evaluate(f"{VIDEO}.currentTime = {VIDEO}.duration - 1")
    await wait_for(page, f"{VIDEO}.ended", timeout=15_000)
    assert await page.is_hidden("#next-up") and page.url.endswith(f"/watch/{second.id}")
    assert await page.is_hidden("#next-link")


async def test_dual_subtitles_and_skip_intro(world: World, page: Page) -> None:
    _, (video, second) = await _series(world, 2)
    await world.svc.series.set_segments(video.id, [{"type": "intro", "start": 0, "end": 6},
                                                   {"type": "outro", "start": 8.5, "end": 10}])
    await page.goto(f"{_origin(world)}/watch/{video.id}")
    await page.wait_for_selector("#skip", state="visible", timeout=30_000)
    assert "Skip intro" in await page.text_content("#skip")
    await page.keyboard.press("s")  # the key does what the button does
    await wait_for(page, f"{VIDEO}.currentTime >= 6")
    await page.evaluate(f"{VIDEO}.pause()")
    assert await page.is_hidden("#skip")
    await wait_for(page, "document.getElementById('subtitles').options.length > 3")
    await _select_by_text(page, "#subtitles", "한국어 + English")
    # Two cue lines at once, Korean above English (the clip's last cue runs from 6.67 s).
    await page.evaluate(f"{VIDEO}.currentTime = 7")
    # The two tracks load on their own: wait for both lines, then check what each one says.
    await wait_for(page, "document.querySelector('#dual-subs .secondary').textContent === 'Thank you!' && "
                         "document.querySelector('#dual-subs .primary').textContent !== ''")
    assert await page.text_content("#dual-subs .primary") == "고마워요!"
    assert await page.is_visible("#dual-subs")
    primary = await page.locator("#dual-subs .primary").bounding_box()
    secondary = await page.locator("#dual-subs .secondary").bounding_box()
    assert primary and secondary and primary["y"] < secondary["y"]
    # hls.js shows none of its own meanwhile.
    assert await page.evaluate(
        f"Array.from({VIDEO}.textTracks).every(t => t.kind === 'metadata' || t.mode !== 'showing')")
    # With an outro set, the next-episode countdown waits for it (without, it would show by now).
    assert await page.is_hidden("#next-up")
    await page.evaluate(f"{VIDEO}.currentTime = 8.6")
    await page.wait_for_selector("#next-up", state="visible")
    # The two languages carry over to the next episode.
    await page.goto(f"{_origin(world)}/watch/{second.id}")
    await wait_for(page, "kdramaPlayer.subtitle() === 'd:ko:en' && !document.getElementById('dual-subs').hidden",
                   timeout=30_000)


async def test_progress_moves_to_another_browser_by_code(world: World, browser: Browser, page: Page) -> None:
    await page.goto(_origin(world) + "/")
    # The old per-video key is taken over; then this browser's state as of a few plays.
    await page.evaluate("localStorage.setItem('kd.position.7', '42')")
    await page.reload()
    assert await page.evaluate("kdState.progress(7).p") == 42
    await page.evaluate("""kdState.save({v: 1, e: {"1": {p: 100, d: 1000, t: 1000, s: 9},
                                                  "2": {p: 950, d: 1000, t: 5000, s: 9, f: 1}},
                                         h: {}, o: {sub: "ko", sub2: "en", t: 4000}})""")
    await page.click("#progress-code summary")
    await page.click("#export")
    await wait_for(page, "document.getElementById('export-code').value.startsWith('KD')")
    code = await page.input_value("#export-code")
    assert (await page.get_attribute("#export-file", "href") or "").startswith("blob:")
    assert len(code) < 200
    other = await browser.new_context()
    try:
        there = await other.new_page()
        await there.goto(_origin(world) + "/")
        await there.evaluate("""kdState.save({v: 1, e: {"1": {p: 300, d: 1000, t: 2000, s: 9},
                                                       "2": {p: 10, d: 1000, t: 3000, s: 9},
                                                       "3": {p: 20, d: 1000, t: 2500}},
                                              h: {}, o: {sub: "en", sub2: null, t: 100}})""")
        await there.click("#progress-code summary")
        await there.fill("#import-code", code)
        await there.click("#import")
        await wait_for(there, "document.getElementById('import-status').textContent.startsWith('Merged')")
        merged = await there.evaluate("kdState.load()")
        # The latest position of each episode wins; a finished episode stays finished.
        assert merged["e"]["1"]["p"] == 300 and merged["e"]["2"]["p"] == 950 and merged["e"]["2"]["f"] == 1
        assert merged["e"]["3"]["p"] == 20 and merged["o"]["sub"] == "ko" and merged["o"]["sub2"] == "en"
        await there.fill("#import-code", "nonsense")
        await there.click("#import")
        await wait_for(there, "document.getElementById('import-status').textContent.startsWith('That is not')")
        assert (await there.evaluate("kdState.load()"))["e"] == merged["e"]
        # The same code as a file: merging it again changes nothing.
        await there.set_input_files("#import-file", files=[{"name": "kdrama-progress.txt", "mimeType": "text/plain",
                                                            "buffer": (code + "\n").encode()}])
        await wait_for(there, "document.getElementById('import-status').textContent.startsWith('Merged')")
        assert (await there.evaluate("kdState.load()")) == merged
    finally:
        await other.close()
    # The next-up rule: after the highest watched main episode; the one played last resumes while
    # unfinished; specials do not interrupt the order; nothing after the last.
    series = """{seasons: [{number: 0, episodes: [{video_id: 100, season: 0, episode: 1}]},
                           {number: 1, episodes: [1, 2, 3, 4].map(n => ({video_id: n, season: 1, episode: n}))}]}"""
    cases = {
        "{}": [1, 0],                                                               # nothing yet: E1
        "{1: {p: 950, d: 1000, t: 1}}": [2, 0],
        "{1: {p: 950, d: 1000, t: 1}, 2: {p: 300, d: 1000, t: 2}}": [2, 300],       # resumes E2
        "{2: {p: 990, d: 1000, t: 1}, 100: {p: 1000, d: 1000, t: 5, f: 1}}": [3, 0],  # a special watched after
        "{1: {p: 1000, d: 1000, t: 3}, 3: {p: 950, d: 1000, t: 1}}": [4, 0],        # after the highest: E4
        "{4: {p: 1000, d: 1000, t: 1}}": None,                                      # the last one watched
    }
    for episodes, expected in cases.items():
        got = await page.evaluate(f"""(() => {{
            const up = kdState.nextUp({series}, {{e: {episodes}, h: {{}}, o: {{}}}});
            return up ? [up.episode.video_id, up.resume] : null; }})()""")
        assert got == expected, (episodes, got)
