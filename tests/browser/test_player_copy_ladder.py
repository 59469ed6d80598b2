"""Chromium with hls.js on a ladder whose top rendition is the source's own H.264 (source-copy path): forced
switches between the copied and an encoded rendition mid-play, and playback that starts while the lower
renditions are still being encoded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page

from kdrama_tui.config import Settings
from kdrama_tui.media.transcoder import LocalServerTranscoder
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from kdrama_tui.services.library.metadata import VideoMetadata
from tests.integration.conftest import small_pipeline
from tests.support.browser import wait_for
from tests.support.e2e import write_subtitles
from tests.support.media import make_clip

SEGMENT_SECONDS = 2
# Samples currentTime every 50 ms; keeps the longest wall-clock time it stood still while playing, and the
# rendition (hls.js level) of every fragment playback entered.
MONITOR = """() => {
  const p = window.kdramaPlayer; const v = p.video;
  window.watch = {stall: 0, levels: [], switched: []};
  let last = v.currentTime, since = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (v.paused || v.ended || v.currentTime !== last) { last = v.currentTime; since = now; }
    window.watch.stall = Math.max(window.watch.stall, now - since);
  }, 50);
  p.hls.on(window.Hls.Events.FRAG_CHANGED, (e, d) => window.watch.levels.push(d.frag.level));
  p.hls.on(window.Hls.Events.LEVEL_SWITCHED, (e, d) => window.watch.switched.push(d.level));
}"""


@pytest.fixture(scope="session")
def h264_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of browser-playable H.264 (keyframe every second) with AAC-LC stereo: the copy path's case."""
    return make_clip(tmp_path_factory.mktemp("copy-browser") / "episode.mp4", seconds=20, rate="24",
                     extra_out=["-g", "24", "-sc_threshold", "0", "-ac", "2"])


@pytest.fixture
async def copy_svc(settings: Settings) -> AsyncIterator[Services]:
    small_pipeline(settings)
    settings.transcode.segment_seconds = SEGMENT_SECONDS
    services = await build_services(settings)
    try:
        await services.start_background(queue=False, ingest=False, schedules=False)
        yield services
    finally:
        await services.close()


@pytest.fixture
async def copy_client(copy_svc: Services, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(copy_svc))


async def _accept(svc: Services, source: Path, tmp_path: Path) -> int:
    owner = await svc.accounts.create_user("uploader", "uploader@example.com", "correct horse battery", "user")
    subs = write_subtitles(tmp_path / "subs")
    accepted = await svc.library.accept_original(
        uploader_id=owner.id, source=source, original_filename="episode.mp4", metadata=VideoMetadata(title="E01"),
        move=False, sidecars=[SubtitleSidecar(subs["en"], "en", "English")])
    return accepted.video.id


async def _play(page: Page, client: TestClient, video_id: int, renditions: int) -> None:
    await page.goto(f"{str(client.make_url('/')).rstrip('/')}/watch/{video_id}")
    await wait_for(page, f"document.getElementById('quality').options.length === {renditions + 1}")
    await page.evaluate(MONITOR)
    # it starts on arrival (no click: a click would pause it)
    await wait_for(page, "document.getElementById('video').currentTime > 1", timeout=30_000)


async def _english_cues_show(page: Page) -> None:
    english = await page.evaluate("""() => Array.from(document.getElementById('subtitles').options)
                                          .find(o => o.text === 'English').value""")
    await page.select_option("#subtitles", english)
    await wait_for(page, """Array.from(document.getElementById('video').textTracks)
                              .some(t => t.language === 'en' && t.mode === 'showing' && t.cues && t.cues.length > 0)""",
                   timeout=15_000)


async def test_switching_between_the_copied_and_an_encoded_rendition_mid_play(
        copy_svc: Services, copy_client: TestClient, page: Page, h264_source: Path, tmp_path: Path) -> None:
    video_id = await _accept(copy_svc, h264_source, tmp_path)
    assert await copy_svc.media.queue.run_until_idle() == 1
    (job,) = await copy_svc.media.queue.list_jobs(video_id=video_id)
    assert job["ladder"]["path"] == "copy"
    await _play(page, copy_client, video_id, renditions=2)
    levels = await page.evaluate("() => window.kdramaPlayer.hls.levels.map(l => l.height)")
    low, top = levels.index(144), levels.index(180)
    await _english_cues_show(page)
    for level in (top, low, top):  # the copied rendition, down to the encoded one, back up to the copied one
        await page.evaluate(f"() => {{ window.kdramaPlayer.hls.currentLevel = {level}; }}")
        await wait_for(page, f"window.watch.levels.slice(-1)[0] === {level}", timeout=15_000)
        played = await page.evaluate("() => document.getElementById('video').currentTime")
        await wait_for(page, f"document.getElementById('video').currentTime > {played + 1.5}", timeout=15_000)
    watch = await page.evaluate("() => window.watch")
    played_levels = [lv for i, lv in enumerate(watch["levels"]) if i == 0 or watch["levels"][i - 1] != lv]
    assert played_levels[-3:] == [top, low, top] and watch["switched"][-2:] == [low, top], watch
    assert watch["stall"] < SEGMENT_SECONDS * 1000, watch  # never stood still for longer than one segment
    assert await page.evaluate("() => document.getElementById('video').error") is None


class HeldLadder(LocalServerTranscoder):
    """The real transcoder, with the lower renditions' encode held until the test lets it go."""

    def __init__(self, binaries, gate: asyncio.Event, reached: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        super().__init__(binaries)
        self.gate, self.reached = gate, reached

    async def _encode(self, run, plan, **kwargs) -> None:  # type: ignore[no-untyped-def,override]
        self.reached.set()
        await self.gate.wait()
        await super()._encode(run, plan, **kwargs)


async def test_playback_starts_before_the_lower_renditions_exist_and_goes_on_when_they_do(
        copy_svc: Services, copy_client: TestClient, page: Page, h264_source: Path, tmp_path: Path) -> None:
    gate, reached = asyncio.Event(), asyncio.Event()
    copy_svc.media.queue.transcoders[LocalServerTranscoder.name] = HeldLadder(copy_svc.media.binaries, gate, reached)
    video_id = await _accept(copy_svc, h264_source, tmp_path)
    worker = asyncio.create_task(copy_svc.media.queue.run_until_idle())
    try:
        await asyncio.wait_for(reached.wait(), 60)
        assert (await repos_of(copy_svc.db).videos.get(video_id)).status == "ready"
        await _play(page, copy_client, video_id, renditions=1)  # only the copied 180p exists yet
        await _english_cues_show(page)
        gate.set()
        assert await asyncio.wait_for(worker, 120) == 1
        (job,) = await copy_svc.media.queue.list_jobs(video_id=video_id)
        assert job["status"] == "completed" and sorted(job["output_formats"]) == ["144p", "180p"]
        played = await page.evaluate("() => document.getElementById('video').currentTime")
        await wait_for(page, f"document.getElementById('video').currentTime > {played + 2}", timeout=15_000)
    finally:
        gate.set()
        if not worker.done():
            worker.cancel()
    watch = await page.evaluate("() => window.watch")
    assert watch["stall"] < SEGMENT_SECONDS * 1000, watch
    # A new viewer sees the whole ladder. (A new browser context: this page's own HTTP cache may keep the first
    # master for its max-age, streaming.playlist_max_age, as any viewer's browser would.)
    assert page.context.browser is not None
    fresh = await page.context.browser.new_context()
    try:
        viewer = await fresh.new_page()
        await viewer.goto(page.url)
        await wait_for(viewer, "document.getElementById('quality').options.length === 3", timeout=30_000)
    finally:
        await fresh.close()
