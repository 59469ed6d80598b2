"""The watch folder end to end on both databases: real files, real ffprobe, real watchfiles."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from tests.support.ingest import events, fast_settings, make_clip, sha256_of, start_watching, wait_until

# Appends the source to the target in steps, keeping the file open the whole time (like cp or smbd)
# or closing it between steps (like a tool that reopens in append mode).
SLOW_WRITER = """
import sys, time
from kdrama_tui.repositories import repos_of
source, target, steps, pause, reopen = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
data = open(source, "rb").read()
piece = -(-len(data) // steps)
f = open(target, "wb")
for i in range(steps):
    if reopen == "1" and f.closed:
        f = open(target, "ab")
    f.write(data[i * piece:(i + 1) * piece])
    f.flush()
    if reopen == "1":
        f.close()
    time.sleep(pause)
if not f.closed:
    f.close()
print(time.time(), flush=True)
"""


@pytest.fixture
async def svc(settings: Settings) -> Services:
    services = await start_watching(fast_settings(settings))
    try:
        yield services
    finally:
        await services.close()


def watch_dir(svc: Services) -> Path:
    return svc.settings.watch_dirs[0]


async def videos(svc: Services) -> list:
    return await repos_of(svc.db).videos.list(order_by="id")


async def count_videos(svc: Services, n: int, timeout: float = 30.0) -> list:
    async def enough() -> list | None:
        found = await videos(svc)
        return found if len(found) >= n else None

    return await wait_until(enough, timeout, message=f"{n} video(s)")


async def original_of(svc: Services, video_id: int):
    (original,) = await repos_of(svc.db).video_files.find_by_video(video_id, "original")
    return original


@pytest.mark.parametrize(("reopen", "quiet", "pause"), [
    ("0", 0.3, 0.6),  # held open: the quiet period alone would be fooled, the /proc check is not
    ("1", 3.0, 0.3),  # closed between appends: the quiet period is what waits (10x a pause, for busy CI)
], ids=["held-open", "reopened"])
async def test_a_slowly_copied_file_is_ingested_once_after_it_is_complete(
        settings: Settings, tmp_path: Path, reopen: str, quiet: float, pause: float) -> None:
    source = make_clip(tmp_path / "source.mkv", size="320x180", seconds=2.0)
    svc = await start_watching(fast_settings(settings, quiet=quiet))
    try:
        target = watch_dir(svc) / "Slow Drama.S01E04.mkv"
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SLOW_WRITER, str(source), str(target), "6", str(pause), reopen,
            stdout=subprocess.PIPE)
        out, _ = await writer.communicate()
        finished_writing = float(out.decode())
        assert writer.returncode == 0
        (video,) = await count_videos(svc, 1)
        # The event follows the video's commit (and the file's removal from the folder): wait for it too.
        ingested = await wait_until(lambda: asyncio.sleep(0, result=events(svc, "ingest.ingested")),
                                    message="the ingest.ingested event")
        assert len(ingested) == 1 and ingested[0].ts >= finished_writing
        assert events(svc, "ingest.failed") == []
        original = await original_of(svc, video.id)
        assert original.checksum == sha256_of(source) == video.source_sha256
        assert original.file_size == source.stat().st_size
        assert svc.storage.local_path(original.file_path).read_bytes() == source.read_bytes()
        assert not target.exists()
        waiting = [e.data["reason"] for e in events(svc, "ingest.waiting")]
        assert waiting, "the dashboard hears that the file is waiting"
        if reopen == "0":
            assert any(r.startswith("open for writing by python") for r in waiting)
        await asyncio.sleep(quiet * 3)
        assert len(await videos(svc)) == 1
    finally:
        await svc.close()


async def test_files_present_at_start_are_taken_and_a_restart_takes_nothing_twice(
        settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    watch = settings.watch_dirs[0]
    first = make_clip(watch / "Before Start (2021).mp4", tone=300)
    first_copy = make_clip(tmp_path / "copy.mp4", tone=300)
    svc = await start_watching(settings)
    try:
        (video,) = await count_videos(svc, 1)
        assert (video.title, video.year) == ("Before Start", 2021)
        marks = await repos_of(svc.db).ingested_files.find_by_video(video.id)
        assert [(m.source_path, m.sha256) for m in marks] == [(str(first.resolve()), sha256_of(first_copy))]
    finally:
        await svc.close()

    # While stopped: the same file reappears at the same place (what an interrupted move leaves behind),
    # a new one arrives, and failed/ holds something that must never be taken.
    os.replace(first_copy, first)
    second = make_clip(watch / "After Restart (2022).mp4", tone=310)
    parked = make_clip(watch / "failed" / "Parked (2020).mp4", tone=320)
    svc = await start_watching(settings)
    try:
        found = await count_videos(svc, 2)
        await wait_until(lambda: asyncio.sleep(0, result=not first.exists()), message="the leftover is removed")
        await asyncio.sleep(1.0)
        found = await videos(svc)
        assert [v.title for v in found] == ["Before Start", "After Restart"]
        assert [e.data.get("already_ingested") for e in events(svc, "ingest.duplicate")] == [True]
        assert parked.exists() and not second.exists()
    finally:
        await svc.close()


async def test_the_same_content_dropped_again_is_a_duplicate(svc: Services) -> None:
    watch = watch_dir(svc)
    make_clip(watch / "Original (2020).mp4", tone=330)
    (video,) = await count_videos(svc, 1)
    subfolder = watch / "someone else"
    make_clip(subfolder / "Renamed Copy.mp4", tone=330)  # same bytes, another name
    (subfolder / "Renamed Copy.ko.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n안녕\n", encoding="utf-8")
    duplicate = await wait_until(lambda: asyncio.sleep(0, result=events(svc, "ingest.duplicate")),
                                 message="a duplicate event")
    assert duplicate[0].data["video_id"] == video.id
    parked = watch / "failed" / "someone else" / "Renamed Copy.mp4"
    assert parked.exists() and (parked.parent / "Renamed Copy.ko.srt").exists()
    reason = (parked.parent / "Renamed Copy.mp4.error.txt").read_text(encoding="utf-8")
    assert f"already video {video.id}" in reason and "duplicate" in reason
    assert len(await videos(svc)) == 1


async def test_two_importers_racing_on_the_same_bytes_make_one_video(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    one = await build_services(settings)
    two = await build_services(settings)
    try:
        a = make_clip(tmp_path / "a" / "Race (2020).mp4", tone=340)
        b = make_clip(tmp_path / "b" / "Race Again (2020).mp4", tone=340)
        outcomes = await asyncio.gather(one.ingester.importer.import_file(a, move=True),
                                        two.ingester.importer.import_file(b, move=True))
        assert sorted(o.status for o in outcomes) == ["duplicate", "ingested"]
        assert await repos_of(one.db).videos.count() == 1
        loser = next(o for o in outcomes if o.status == "duplicate")
        assert loser.path.exists(), "the file that lost the race is given back, not lost"
    finally:
        await one.close()
        await two.close()


async def test_broken_files_land_in_failed_with_their_reason_and_the_folder_keeps_working(
        svc: Services) -> None:
    watch = watch_dir(svc)
    (watch / "empty.mkv").write_bytes(b"")
    (watch / "notes.mkv").write_text("meeting notes, not a video\n")
    (watch / "Season 1").mkdir()
    (watch / "Season 1" / "poster.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (watch / "list.mkv").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{watch / 'x.ts'}\n")
    make_clip(watch / "Bad Meta (2020).mp4", tone=350)
    (watch / "Bad Meta (2020).json").write_text('{"title": "x", "year": 1492}')
    failed = await wait_until(lambda: asyncio.sleep(0, result=len(events(svc, "ingest.failed")) >= 5 and
                                                    events(svc, "ingest.failed")), message="5 failures")
    reasons = {Path(e.data["path"]).name: e.data["reason"] for e in failed}
    assert reasons["empty.mkv"] == "it is empty (0 bytes)"
    assert reasons["notes.mkv"].startswith("notes.mkv is not a readable media file")
    assert reasons["poster.jpg"].startswith("poster.jpg is not a")
    assert reasons["list.mkv"] == "it is a playlist, not a video file"  # a live one would stall ffprobe
    assert "year must be a number between 1900 and 2100" in reasons["Bad Meta (2020).mp4"]
    for relative in ("empty.mkv", "notes.mkv", "Season 1/poster.jpg", "list.mkv", "Bad Meta (2020).mp4"):
        parked = watch / "failed" / relative
        assert parked.exists(), relative
        text = parked.with_name(parked.name + ".error.txt").read_text(encoding="utf-8")
        assert reasons[parked.name] in text
    assert (watch / "failed" / "Bad Meta (2020).json").exists(), "sidecars go with their video"
    assert await videos(svc) == []

    # The folder keeps working, and nothing in failed/ is ever taken again (not even on a full rescan).
    (watch / "empty.mkv").write_bytes(b"")
    make_clip(watch / "Good (2021).mp4", tone=360)
    (video,) = await count_videos(svc, 1)
    assert video.title == "Good"
    await svc.ingester.scan()
    await asyncio.sleep(1.0)
    assert (watch / "failed" / "empty (2).mkv").exists()
    assert (watch / "failed" / "empty (2).mkv.error.txt").exists()
    assert len(await videos(svc)) == 1
    assert len(events(svc, "ingest.failed")) == 6


async def test_symlinks_fifos_and_partial_names_are_left_alone(
        svc: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    watch = watch_dir(svc)
    outside = make_clip(tmp_path / "outside" / "Secret (2020).mp4", tone=370)
    (watch / "Linked (2020).mp4").symlink_to(outside)
    (watch / "linked folder").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(watch / "Pipe (2020).mkv")
    make_clip(watch / "Downloading (2020).mkv.part", tone=380)
    make_clip(watch / ".hidden (2020).mkv", tone=390)
    make_clip(watch / "Plain (2020).mp4", tone=400)
    (video,) = await count_videos(svc, 1)
    assert video.title == "Plain"
    await asyncio.sleep(1.0)  # several quiet periods: nothing else is taken
    assert len(await videos(svc)) == 1
    assert (watch / "Linked (2020).mp4").is_symlink() and outside.exists()
    assert (watch / "Pipe (2020).mkv").exists() and (watch / "Downloading (2020).mkv.part").exists()
    assert not list((watch / "failed").iterdir())
    logged = caplog.text
    assert "symlink to" in logged and "outside the watch folder" in logged and "FIFO" in logged

    # A partial name is taken once it is renamed to its final name.
    os.rename(watch / "Downloading (2020).mkv.part", watch / "Downloading (2020).mkv")
    found = await count_videos(svc, 2)
    assert found[1].title == "Downloading"


async def test_names_sidecars_and_subtitles_reach_the_video_and_its_job(svc: Services) -> None:
    watch = watch_dir(svc)
    show = watch / "Crash Landing on You (2019)" / "Season 1"
    make_clip(show / "Crash.Landing.on.You.S01E03.1080p.WEB-DL.mkv", tone=410)
    make_clip(watch / "도깨비 (2016)" / "01화.mp4", tone=415)
    make_clip(watch / "Some Name (2020).mp4", tone=420)
    (watch / "Some Name (2020).json").write_text(
        '{"title": "진짜 제목", "description": "설명입니다", "year": 2021, "genre": "Romance", '
        '"actors": ["현빈", "손예진"], "is_public": false, "owner_id": 99, "status": "ready"}', encoding="utf-8")
    subtitles = {"Some Name (2020).ko.srt": "1\n00:00:00,000 --> 00:00:01,000\n안녕하세요\n",
                 "Some Name (2020).en.vtt": "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n",
                 "Some Name (2020).smi": "<SAMI><BODY><SYNC Start=0><P Class=KRCC>안녕</SAMI>"}
    for name, text in subtitles.items():
        (watch / name).write_text(text, encoding="utf-8")
    found = await count_videos(svc, 3)
    by_title = {v.title: v for v in found}

    episode = by_title["Crash Landing on You S01E03"]
    assert episode.year == 2019
    (mark,) = await repos_of(svc.db).ingested_files.find_by_video(episode.id)
    assert (mark.show_title, mark.season, mark.episode) == ("Crash Landing on You", 1, 3)
    korean = by_title["도깨비 E01"]
    assert korean.year == 2016 and korean.original_filename == "01화.mp4"
    (mark,) = await repos_of(svc.db).ingested_files.find_by_video(korean.id)
    assert (mark.show_title, mark.season, mark.episode) == ("도깨비", None, 1)

    film = by_title["진짜 제목"]
    assert (film.description, film.year, film.genre, film.actors, film.is_public) == (
        "설명입니다", 2021, "Romance", ["현빈", "손예진"], False)
    assert film.status == "processing"
    ingest_user = await repos_of(svc.db).users.find_by_username("ingest")
    assert ingest_user is not None and ingest_user.role == "user"
    assert film.uploader_user_id == episode.uploader_user_id == ingest_user.id
    (job,) = await repos_of(svc.db).jobs.find_by_video(film.id)
    assert job.status == "queued"
    rows = await repos_of(svc.db).video_files.find_by_video(film.id, "subtitle_source")
    stored = {(r.language, r.label): svc.storage.local_path(r.file_path).read_text(encoding="utf-8") for r in rows}
    assert stored == {("ko", "Korean"): subtitles["Some Name (2020).ko.srt"],
                      ("en", "English"): subtitles["Some Name (2020).en.vtt"],
                      (None, None): subtitles["Some Name (2020).smi"]}
    assert sorted(p.name for p in watch.iterdir()) == ["Crash Landing on You (2019)", "failed", "도깨비 (2016)"]
    assert not list(show.iterdir()), "the videos left; only the (now empty) show folders remain"
    assert not list((watch / "도깨비 (2016)").iterdir())
    kinds = [e.type for e in svc.events.recent(limit=1000, prefix="ingest.")]
    assert kinds.count("ingest.seen") == 3 and kinds.count("ingest.ingested") == 3


async def test_an_error_that_is_not_the_files_fault_keeps_it_for_a_retry(
        svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdrama_tui.services.ingest import watcher as ingest_module

    monkeypatch.setattr(ingest_module, "RETRY_SECONDS", 1.5)
    real = svc.library.accept_original
    calls = {"n": 0}

    async def flaky(**kwargs):  # the database drops out once, as a restart of PostgreSQL would do
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database unreachable")
        return await real(**kwargs)

    monkeypatch.setattr(svc.library, "accept_original", flaky)
    watch = watch_dir(svc)
    unlucky = make_clip(watch / "Unlucky (2020).mp4", tone=430)
    failed = await wait_until(lambda: asyncio.sleep(0, result=events(svc, "ingest.failed")), message="the error")
    assert "retrying" in failed[0].data["reason"] and failed[0].data["moved_to"] is None
    assert unlucky.exists() and not list((watch / "failed").iterdir())
    make_clip(watch / "Next (2020).mp4", tone=440)
    found = await count_videos(svc, 2)
    assert [v.title for v in found] == ["Next", "Unlucky"]


async def test_a_crash_between_the_commit_and_the_mark_never_doubles_the_video(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_settings(settings)
    svc = await build_services(settings)
    try:
        source = make_clip(tmp_path / "Crashy (2020).mp4", tone=450)

        async def crash(data):  # the process dies right after the video's transaction committed
            raise SystemExit("killed")

        monkeypatch.setattr(repos_of(svc.db).ingested_files, "record", crash)
        with pytest.raises(SystemExit):
            await svc.ingester.importer.import_file(source, move=False)
        monkeypatch.undo()
        assert await repos_of(svc.db).ingested_files.count() == 0
        (video,) = await repos_of(svc.db).videos.list()
        again = await svc.ingester.importer.import_file(source, move=False)
        assert (again.status, again.video_id) == ("duplicate", video.id)
        assert await repos_of(svc.db).videos.count() == 1 and source.exists()
    finally:
        await svc.close()


async def test_a_watch_folder_deleted_under_the_watcher_is_recreated_and_watched_again(svc: Services) -> None:
    import shutil

    watch = watch_dir(svc)
    shutil.rmtree(watch)
    await wait_until(lambda: asyncio.sleep(0, result=(watch / "failed").is_dir()), message="the folder is back")
    make_clip(watch / "After Delete (2020).mp4", tone=460)
    (video,) = await count_videos(svc, 1)
    assert video.title == "After Delete"
