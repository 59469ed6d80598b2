"""Chromium plays a video the REAL pipeline made (accept_original -> transcode queue -> HLS), with the
Korean (CP949 source) and English subtitles it converted, from local storage and from S3 (proxy delivery)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from kdrama_tui.services.library.metadata import VideoMetadata
from tests.integration.conftest import small_pipeline
from tests.support.browser import wait_for
from tests.support.e2e import ENGLISH_LINES, KOREAN_LINES, make_sine_clip, write_subtitles
from tests.support.s3 import MotoServer

SECONDS = 6


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sine_clip(tmp_path_factory.mktemp("browser-clip") / "episode.mp4", seconds=SECONDS)


@pytest.fixture(params=["local", "s3"])
async def pipeline_svc(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Services]:
    small_pipeline(settings)
    settings.transcode.segment_seconds = 2
    if request.param == "s3":
        server: MotoServer = request.getfixturevalue("s3_server")
        server.new_bucket().configure(settings)
    services = await build_services(settings)
    try:
        await services.start_background(queue=False, ingest=False, schedules=False)
        yield services
    finally:
        await services.close()


@pytest.fixture
async def pipeline_client(pipeline_svc: Services, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(pipeline_svc))


async def test_pipeline_video_plays_with_korean_and_english_subtitles(
        pipeline_svc: Services, pipeline_client: TestClient, page: Page, long_clip: Path, tmp_path: Path) -> None:
    svc = pipeline_svc
    owner = await svc.accounts.create_user("uploader", "uploader@example.com", "correct horse battery", "user")
    subs = write_subtitles(tmp_path / "subs")
    accepted = await svc.library.accept_original(
        uploader_id=owner.id, source=long_clip, original_filename="episode.mp4",
        metadata=VideoMetadata(title="사랑의 불시착 1화"), move=False,
        sidecars=[SubtitleSidecar(subs["ko"], "ko", "한국어"), SubtitleSidecar(subs["en"], "en", "English")])
    assert await svc.media.queue.run_until_idle() == 1
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"
    rows = await repos_of(svc.db).video_files.find_by_video(accepted.video.id)
    assert {r.storage_provider for r in rows} == {svc.storage.provider}

    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    hls_statuses: list[int] = []
    page.on("response", lambda r: hls_statuses.append(r.status) if "/hls/" in r.url else None)
    origin = str(pipeline_client.make_url("/")).rstrip("/")
    await page.goto(f"{origin}/watch/{accepted.video.id}")
    await wait_for(page, "document.getElementById('quality').options.length === 3")  # Auto + 180p + 144p
    # it starts on arrival (no click)
    await wait_for(page, "document.getElementById('video').currentTime > 3", timeout=30_000)
    tracks = await page.evaluate(
        "() => Array.from(document.getElementById('video').textTracks).map(t => t.language)")
    assert {"ko", "en"} <= set(tracks)
    korean = await page.evaluate("""() => Array.from(document.getElementById('subtitles').options)
                                         .find(o => o.text === '한국어').value""")
    await page.select_option("#subtitles", korean)
    await wait_for(page, """Array.from(document.getElementById('video').textTracks)
                              .some(t => t.language === 'ko' && t.mode === 'showing' && t.cues && t.cues.length > 0)""",
                   timeout=15_000)
    ko_cues = await page.evaluate("""() => Array.from(document.getElementById('video').textTracks)
        .filter(t => t.language === 'ko').flatMap(t => Array.from(t.cues || []).map(c => c.text))""")
    assert set(KOREAN_LINES) <= set(ko_cues)  # decoded from CP949, not mojibake
    english = await page.evaluate("""() => Array.from(document.getElementById('subtitles').options)
                                          .find(o => o.text === 'English').value""")
    await page.select_option("#subtitles", english)
    await wait_for(page, """Array.from(document.getElementById('video').textTracks)
                              .some(t => t.language === 'en' && t.mode === 'showing' && t.cues && t.cues.length > 0)""",
                   timeout=15_000)
    en_cues = await page.evaluate("""() => Array.from(document.getElementById('video').textTracks)
        .filter(t => t.language === 'en').flatMap(t => Array.from(t.cues || []).map(c => c.text))""")
    assert set(ENGLISH_LINES) <= set(en_cues)
    assert hls_statuses and all(s in (200, 206, 304) for s in hls_statuses), hls_statuses
    assert console == [], console
