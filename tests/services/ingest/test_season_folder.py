"""A season dropped as files becomes one series of ordered, ready episodes with their subtitles (both
databases, real ffmpeg): western and Korean episode names, CP949 Korean subtitles, the show folder's JSON,
and files that cannot be placed kept as lone videos on the admin's unmatched list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.service import Viewer
from kdrama_tui.services.container import Services, build_services
from tests.support.ingest import fast_settings, make_clip

KOREAN_SRT = "1\n00:00:00,100 --> 00:00:00,900\n똠방각하, 안녕하세요 {n}화\n\n"  # 똠: CP949 only, not in EUC-KR
ENGLISH_SRT = "1\n00:00:00,100 --> 00:00:00,900\nHello, episode {n}\n\n"


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.transcode.segment_seconds = 1
    services = await build_services(fast_settings(settings))
    try:
        yield services
    finally:
        await services.close()


def _drop(folder: Path, stems: list[str], ext: str, tone: int) -> list[Path]:
    """One tiny real clip per stem (different content each) with CP949 Korean and UTF-8 English subtitles."""
    paths = []
    for n, stem in enumerate(stems, 1):
        video = make_clip(folder / f"{stem}{ext}", tone=tone + 40 * n, seconds=1.0)
        (folder / f"{stem}.ko.srt").write_bytes(KOREAN_SRT.format(n=n).encode("cp949"))
        (folder / f"{stem}.en.srt").write_text(ENGLISH_SRT.format(n=n), encoding="utf-8")
        paths.append(video)
    return paths


async def _import_all(svc: Services, paths: list[Path]) -> list:
    root = svc.settings.watch_dirs[0]
    outcomes = [await svc.ingester.importer.import_file(p, root=root, failed_root=root) for p in reversed(paths)]
    assert all(o.status == "ingested" for o in outcomes), [(o.status, o.reason) for o in outcomes]
    assert await svc.media.queue.run_until_idle() == len(paths)
    return outcomes


async def _found_by(svc: Services, q: str) -> list[str]:
    return [s["title"] for s in (await svc.series.search(Viewer(), q=q))["items"]]


async def _check_season(svc: Services, series_id: int, stems: list[str]) -> None:
    detail = await svc.series.detail(series_id, Viewer())  # as an anonymous viewer: public and ready
    (season,) = detail["seasons"]
    assert season["number"] == 1
    episodes = season["episodes"]
    assert [e["episode"] for e in episodes] == [1, 2, 3]
    assert all(e["status"] == "ready" and e["subtitle_languages"] == ["en", "ko"] for e in episodes)
    originals = [(await repos_of(svc.db).videos.get(e["video_id"])).original_filename for e in episodes]
    assert [Path(name).stem for name in originals] == stems
    key = next(f.file_path for f in await repos_of(svc.db).video_files.find_by_video(episodes[0]["video_id"],
                                                                                      "subtitle")
               if f.language == "ko" and f.file_path.endswith(".vtt"))
    korean = svc.storage.local_path(key).read_text(encoding="utf-8")
    assert "똠방각하" in korean  # CP949 read as CP949, not mangled as EUC-KR


async def test_a_western_season_folder_becomes_one_series(svc: Services) -> None:
    show = svc.settings.watch_dirs[0] / "Show (2021)"
    stems = ["Show.S01E01", "Show.S01E02", "Show.S01E03"]
    paths = _drop(show, stems, ".mkv", 300)
    (show / "Show.json").write_text(json.dumps({"native_title": "쇼", "alt_titles": ["The Show"],
                                                "genres": ["Drama"], "network": "tvN"}), encoding="utf-8")
    outcomes = await _import_all(svc, paths)
    (series,) = await repos_of(svc.db).series.list()
    assert {o.series_id for o in outcomes} == {series.id}
    assert (series.title, series.year, series.native_title, series.network) == ("Show", 2021, "쇼", "tvN")
    await _check_season(svc, series.id, stems)
    for q in ("Show", "쇼", "The Show", "syo", "ㅅ"):
        assert await _found_by(svc, q) == ["Show"], q
    assert not list(show.glob("*.srt"))  # the sidecars went into storage with their videos
    assert (show / "Show.json").exists()  # the show's JSON stays for the episodes still to come

    # The same episode again (other content) and a file without an episode number: lone videos, listed.
    again = make_clip(show / "Show.S01E02.1080p.mkv", tone=900, seconds=1.0)
    season_folder = show / "Season 1"
    unnumbered = make_clip(season_folder / "Show.making.of.mkv", tone=950, seconds=1.0)
    root = svc.settings.watch_dirs[0]
    for path in (again, unnumbered):
        outcome = await svc.ingester.importer.import_file(path, root=root, failed_root=root)
        assert outcome.status == "ingested" and outcome.series_id is None and outcome.unmatched
    listed = await svc.series.unmatched()
    reasons = {item["source_name"]: item["reason"] for item in listed["items"]}
    assert "already video" in reasons["Show.S01E02.1080p.mkv"]
    assert reasons["Show.making.of.mkv"] == "the name gives no episode number"
    assert [e["episode"] for e in (await svc.series.detail(series.id, Viewer()))["seasons"][0]["episodes"]] \
        == [1, 2, 3]  # nothing was attached over episode 2


async def test_korean_episode_names_make_the_same_kind_of_series(svc: Services) -> None:
    show = svc.settings.watch_dirs[0] / "쇼 (2021)"
    stems = ["쇼 1화", "쇼 제2화", "쇼 3회"]
    paths = _drop(show, stems, ".mp4", 500)
    (show / "series.json").write_text(json.dumps({"alt_titles": ["The Show"]}), encoding="utf-8")
    await _import_all(svc, paths)
    (series,) = await repos_of(svc.db).series.list()
    assert (series.title, series.year) == ("쇼", 2021)
    await _check_season(svc, series.id, stems)
    for q in ("쇼", "The Show", "the-show", "syo"):
        assert await _found_by(svc, q) == ["쇼"], q
