"""Subtitles dropped into the watch folder after their video: real watcher, real ffmpeg, both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import m3u8
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from tests.support.ingest import events, fast_settings, make_clip, start_watching, wait_until

LADDER = [{"name": "90p", "height": 90, "video_bitrate": "120k", "audio_bitrate": "48k"}]
ENGLISH = "1\n00:00:00,000 --> 00:00:00,900\nWhere did you go?\n\n2\n00:00:01,000 --> 00:00:01,800\nI was here.\n"
ENGLISH_BETTER = "WEBVTT\n\n00:00.000 --> 00:00.900\nWhere have you been?\n\n00:01.000 --> 00:01.800\nRight here.\n"
KOREAN_LINES = ["사랑의 불시착", "안녕하세요, 반갑습니다."]
KOREAN_SAMI = (
    "<SAMI>\n<HEAD>\n<STYLE TYPE=\"text/css\">\n<!--\nP { margin-left: 8pt; }\n"
    ".KRCC { Name: Korean; lang: ko-KR; SAMIType: CC; }\n-->\n</STYLE>\n</HEAD>\n<BODY>\n"
    f"<SYNC Start=0><P Class=KRCC>{KOREAN_LINES[0]}\n"
    f"<SYNC Start=1000><P Class=KRCC>{KOREAN_LINES[1]}\n"
    "<SYNC Start=1900><P Class=KRCC>&nbsp;\n</BODY>\n</SAMI>\n")


def pipeline_settings(settings: Settings, timeout: float = 60.0) -> Settings:
    fast_settings(settings)
    settings.transcode.ladder = [dict(r) for r in LADDER]
    settings.transcode.segment_seconds = 1
    settings.transcode.preset = "ultrafast"
    settings.transcode.retry_backoff_seconds = 0
    settings.transcode.nice = 0
    settings.transcode.poll_seconds = 0.2
    settings.ingest.late_subtitle_timeout_seconds = timeout
    return settings


def named(svc: Services, kind: str, name: str) -> list:
    return [e for e in events(svc, kind) if e.data.get("name") == name]


async def wait_event(svc: Services, kind: str, name: str, timeout: float = 60.0, **match: object) -> dict:
    async def seen() -> dict | None:
        found = [e.data for e in named(svc, kind, name) if all(e.data.get(k) == v for k, v in match.items())]
        return found[-1] if found else None

    return await wait_until(seen, timeout, message=f"{kind} for {name} {match or ''}")


async def one_video(svc: Services):
    async def found():
        rows = await repos_of(svc.db).videos.list(order_by="id")
        return rows[0] if rows else None

    return await wait_until(found, 30, message="the video")


def cue_texts(vtt: str) -> list[str]:
    texts = []
    for block in vtt.replace("\r\n", "\n").split("\n\n"):
        lines = block.strip().split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is not None:
            texts.append("\n".join(lines[timing + 1:]))
    return texts


async def subtitle_renditions(svc: Services, video_id: int) -> dict[str, list[str]]:
    """language -> cue texts, read as a player reads them: master playlist -> media playlist -> WebVTT."""
    (row,) = await repos_of(svc.db).video_files.find_by_video(video_id, "master_playlist")
    master_path = svc.storage.local_path(row.file_path)
    master = m3u8.loads(master_path.read_text(encoding="utf-8"))
    assert master.playlists, "the master still lists the video rendition"
    found: dict[str, list[str]] = {}
    for media in master.media:
        if media.type != "SUBTITLES":
            continue
        assert media.language not in found, f"{media.language} listed twice"
        playlist_path = master_path.parent / media.uri
        playlist = m3u8.loads(playlist_path.read_text(encoding="utf-8"))
        found[media.language] = [text for segment in playlist.segments
                                 for text in cue_texts((playlist_path.parent / segment.uri).read_text("utf-8"))]
    return found


async def test_subtitles_dropped_after_the_video_become_renditions_once_even_across_a_restart(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdrama_tui.services.ingest import watcher as ingest_module

    pipeline_settings(settings, timeout=1.0)
    watch = settings.watch_dirs[0]
    show = watch / "Late Show (2024)"
    svc = await start_watching(settings)  # no transcode queue yet: the video stays "processing"
    try:
        make_clip(show / "Late.Show.S01E02.mp4", tone=610, seconds=2.0)
        video = await one_video(svc)
        await wait_event(svc, "ingest.ingested", "Late.Show.S01E02.mp4")
        english = show / "Late.Show.S01E02.en.srt"
        english.write_text(ENGLISH, encoding="utf-8")
        waiting = await wait_event(svc, "ingest.waiting", english.name)
        assert waiting["reason"] == f"waiting for video {video.id} to finish processing"
        await asyncio.sleep(2.0)  # twice the no-match timeout: a matched video in processing is worth waiting for
        assert english.exists() and not list((watch / "failed").iterdir())

        svc.spawn("media.queue", svc.media.queue.run)
        attached = await wait_event(svc, "ingest.ingested", english.name, subtitle="en")
        assert (attached["video_id"], attached["replaced"]) == (video.id, False)
        assert (await repos_of(svc.db).videos.get(video.id)).status == "ready"
        assert not english.exists()

        # The Korean one is a SAMI file in CP949, and the first try dies between storing the track and
        # writing its mark (as a crash would): the retry recognises the stored source, no second track.
        monkeypatch.setattr(ingest_module, "RETRY_SECONDS", 0.5)
        real_record = repos_of(svc.db).ingested_files.record
        calls = {"n": 0}

        async def flaky_record(data):
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("database unreachable")
            return await real_record(data)

        monkeypatch.setattr(repos_of(svc.db).ingested_files, "record", flaky_record)
        korean = show / "Late.Show.S01E02.ko.smi"
        korean.write_bytes(KOREAN_SAMI.encode("cp949"))
        await wait_event(svc, "ingest.duplicate", korean.name, already_ingested=True)
        assert "database unreachable" in named(svc, "ingest.failed", korean.name)[0].data["reason"]
        assert not korean.exists()
        monkeypatch.undo()

        tracks = await subtitle_renditions(svc, video.id)
        assert tracks == {"en": ["Where did you go?", "I was here."], "ko": KOREAN_LINES}
        sources = await repos_of(svc.db).video_files.find_by_video(video.id, "subtitle_source")
        assert sorted(s.language for s in sources) == ["en", "ko"]
        english_source = next(s for s in sources if s.language == "en")
        assert svc.storage.local_path(english_source.file_path).read_text(encoding="utf-8") == ENGLISH
        marks = await repos_of(svc.db).ingested_files.find_by_video(video.id)
        assert sorted(Path(m.source_path).name for m in marks) == [
            "Late.Show.S01E02.en.srt", "Late.Show.S01E02.ko.smi", "Late.Show.S01E02.mp4"]
        assert {(m.show_title, m.season, m.episode) for m in marks} == {("Late Show", 1, 2)}
        assert not list(show.iterdir()) and not list((watch / "failed").iterdir())
    finally:
        await svc.close()

    # Stopped after the attach; the English file is back where it was (a removal the crash interrupted).
    english.write_text(ENGLISH, encoding="utf-8")
    rows_before = await svc_rows(settings, video.id)
    svc = await start_watching(settings)
    try:
        again = await wait_event(svc, "ingest.duplicate", english.name, already_ingested=True)
        assert again["video_id"] == video.id and not english.exists()
        await asyncio.sleep(1.0)
        assert await svc_rows_of(svc, video.id) == rows_before
        assert await subtitle_renditions(svc, video.id) == {"en": ["Where did you go?", "I was here."],
                                                            "ko": KOREAN_LINES}
        assert named(svc, "ingest.ingested", english.name) == []
        assert not list((watch / "failed").iterdir())
    finally:
        await svc.close()


async def svc_rows_of(svc: Services, video_id: int) -> list[tuple[str, str]]:
    return sorted((f.file_type, f.file_path) for f in await repos_of(svc.db).video_files.find_by_video(video_id))


async def svc_rows(settings: Settings, video_id: int) -> list[tuple[str, str]]:
    from kdrama_tui.db import open_database

    db = await open_database(settings.database_url)
    try:
        return sorted((f.file_type, f.file_path) for f in await repos_of(db).video_files.find_by_video(video_id))
    finally:
        await db.close()


async def test_a_subtitle_of_a_language_the_video_has_replaces_that_track(settings: Settings) -> None:
    pipeline_settings(settings)
    watch = settings.watch_dirs[0]
    svc = await start_watching(settings)
    try:
        svc.spawn("media.queue", svc.media.queue.run)
        make_clip(watch / "Replace Me (2023).mkv", tone=620, seconds=2.0)
        (watch / "Replace Me (2023).en.srt").write_text(ENGLISH, encoding="utf-8")
        video = await one_video(svc)

        async def ready() -> bool:
            return (await repos_of(svc.db).videos.get(video.id)).status == "ready"

        await wait_until(ready, 60, message="the video to be ready")
        assert await subtitle_renditions(svc, video.id) == {"en": ["Where did you go?", "I was here."]}
        old = {f.file_path for f in await repos_of(svc.db).video_files.find_by_video(video.id)
               if f.file_type in ("subtitle", "subtitle_source")}

        better = watch / "Replace Me (2023).eng.vtt"
        better.write_text(ENGLISH_BETTER, encoding="utf-8")
        attached = await wait_event(svc, "ingest.ingested", better.name)
        assert (attached["subtitle"], attached["replaced"]) == ("en", True)
        assert await subtitle_renditions(svc, video.id) == {"en": ["Where have you been?", "Right here."]}
        rows = await repos_of(svc.db).video_files.find_by_video(video.id)
        assert not old & {f.file_path for f in rows}, "the replaced track's rows are gone"
        assert not any(svc.storage.local_path(key).exists() for key in old), "and so are its files"
        (source,) = [f for f in rows if f.file_type == "subtitle_source"]
        assert svc.storage.local_path(source.file_path).read_text(encoding="utf-8") == ENGLISH_BETTER
        assert not better.exists()

        # Not a subtitle at all: refused with the reason, and the track stays as it was.
        garbage = watch / "Replace Me (2023).ja.srt"
        garbage.write_text("meeting notes, not subtitles\n", encoding="utf-8")
        failed = await wait_event(svc, "ingest.failed", garbage.name)
        assert failed["reason"].startswith("the subtitle file could not be read")
        assert (watch / "failed" / garbage.name).exists() and not garbage.exists()
        assert await subtitle_renditions(svc, video.id) == {"en": ["Where have you been?", "Right here."]}
    finally:
        await svc.close()


async def test_a_subtitle_without_its_video_waits_for_it_then_goes_to_failed(settings: Settings) -> None:
    pipeline_settings(settings, timeout=1.5)
    watch = settings.watch_dirs[0]
    svc = await start_watching(settings)
    try:
        # Before its video: it waits, and the video arriving within the timeout takes it as a sidecar.
        early = watch / "Early Bird (2020).ko.srt"
        early.write_text("1\n00:00:00,000 --> 00:00:01,000\n일찍 왔어요\n", encoding="utf-8")
        waiting = await wait_event(svc, "ingest.waiting", early.name)
        assert waiting["reason"].startswith("waiting for its video")
        make_clip(watch / "Early Bird (2020).mp4", tone=630)
        video = await one_video(svc)
        (source,) = await repos_of(svc.db).video_files.find_by_video(video.id, "subtitle_source")
        assert (source.language, svc.storage.local_path(source.file_path).read_text(encoding="utf-8")) == (
            "ko", "1\n00:00:00,000 --> 00:00:01,000\n일찍 왔어요\n")
        assert not early.exists()

        # No video of that name, ever: after the timeout it is parked in failed/ with the reason.
        lone = watch / "Nobody.S09E09.en.srt"
        lone.write_text(ENGLISH, encoding="utf-8")
        failed = await wait_event(svc, "ingest.failed", lone.name, timeout=30)
        assert failed["reason"].startswith("no video matched")
        parked = watch / "failed" / lone.name
        assert parked.read_text(encoding="utf-8") == ENGLISH and not lone.exists()
        text = (watch / "failed" / (lone.name + ".error.txt")).read_text(encoding="utf-8")
        assert "no video matched" in text and "Show.S01E03.ko.srt belongs to Show.S01E03.mkv" in text
        waited = named(svc, "ingest.waiting", lone.name)
        assert waited and waited[0].ts + 1.5 <= failed_event_ts(svc, lone.name)
        assert await repos_of(svc.db).videos.count() == 1
    finally:
        await svc.close()


def failed_event_ts(svc: Services, name: str) -> float:
    return named(svc, "ingest.failed", name)[-1].ts


async def test_a_subtitle_left_over_from_the_import_is_not_taken_as_a_new_one(settings: Settings) -> None:
    pipeline_settings(settings, timeout=60)
    watch = settings.watch_dirs[0]
    svc = await start_watching(settings)
    try:
        # Two Korean files beside the video: the SRT is taken (text formats first), the SAMI stays behind.
        (watch / "Pair (2021).ko.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n좋아요\n", encoding="utf-8")
        (watch / "Pair (2021).ko.smi").write_bytes(KOREAN_SAMI.encode("cp949"))
        make_clip(watch / "Pair (2021).mp4", tone=640)
        video = await one_video(svc)
        failed = await wait_event(svc, "ingest.failed", "Pair (2021).ko.smi")
        assert failed["video_id"] == video.id
        assert "already beside its video" in failed["reason"] and "drop it again" in failed["reason"]
        assert (watch / "failed" / "Pair (2021).ko.smi").exists()
        (source,) = await repos_of(svc.db).video_files.find_by_video(video.id, "subtitle_source")
        assert source.file_path.endswith(".srt")
    finally:
        await svc.close()


async def test_a_subtitle_arriving_during_its_videos_import_is_not_taken_for_a_leftover(
        settings: Settings, tmp_path: Path) -> None:
    """The import lists sidecars first and records the video last (after probing, hashing and storing): a
    subtitle dropped in between was never offered, so it waits for the video instead of going to failed/."""
    pipeline_settings(settings)
    drop = tmp_path / "drop"
    clip = make_clip(drop / "Vincenzo S01E02.mp4", tone=560)
    subtitle = drop / "Vincenzo S01E02.en.srt"
    svc = await build_services(settings)
    try:
        record = repos_of(svc.db).ingested_files.record

        async def record_after_a_subtitle_arrived(data: dict) -> object:
            await asyncio.sleep(0.05)  # ctime granularity
            subtitle.write_text(ENGLISH, encoding="utf-8")  # arrives while the video is being imported
            await asyncio.sleep(0.05)
            return await record(data)

        repos_of(svc.db).ingested_files.record = record_after_a_subtitle_arrived  # type: ignore[method-assign]
        outcome = await svc.ingester.importer.import_file(clip, root=drop, failed_root=drop)
        assert outcome.status == "ingested"
        late = await svc.ingester.late.handle(subtitle, drop, waited=0.0)
        assert late.status == "waiting" and "finish processing" in late.reason, late
        assert subtitle.exists()
    finally:
        await svc.close()
