"""``kdrama-tui ingest PATH...`` as a real process: what it prints and its exit status."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import open_database
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import build_services
from tests.services.ingest.test_late_subtitles import ENGLISH, pipeline_settings
from tests.support.ingest import fast_settings, make_clip, run_cli, sha256_of


async def all_videos(settings: Settings) -> list:
    db = await open_database(settings.database_url)
    try:
        return await repos_of(db).videos.list(order_by="id")
    finally:
        await db.close()


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kdrama-tui: ")
    return lines[0]


async def test_ingest_files_and_folders_exit_zero(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    single = make_clip(tmp_path / "drop" / "Single (2020).mp4", tone=500)
    season = tmp_path / "drop" / "Goblin (2016)"
    make_clip(season / "Season 1" / "E01.mp4", tone=510)
    make_clip(season / "Season 1" / "E02.mp4", tone=520)
    (season / "Season 1" / "E02.ko.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n안녕\n", encoding="utf-8")
    (season / "Season 1" / "E03.mp4.part").write_bytes(b"still downloading")
    result = run_cli(settings, "ingest", str(single), str(season))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ingested   ") == 3
    assert [(v.title, v.year) for v in await all_videos(settings)] == [
        ("Single", 2020), ("Goblin S01E01", 2016), ("Goblin S01E02", 2016)]
    assert not single.exists() and not (season / "Season 1" / "E02.ko.srt").exists()
    assert (season / "Season 1" / "E03.mp4.part").exists(), "partial names are left alone"


async def test_copy_mode_leaves_the_files_and_a_second_run_takes_nothing_twice(
        settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    clip = make_clip(tmp_path / "Keep Me (2019).mp4", tone=530)
    digest = sha256_of(clip)
    first = run_cli(settings, "ingest", "--copy", str(clip))
    assert first.returncode == 0, first.stderr
    assert clip.exists() and sha256_of(clip) == digest
    again = run_cli(settings, "ingest", "--copy", str(clip))
    assert again.returncode == 0, again.stderr
    assert "already in" in again.stdout
    renamed = tmp_path / "Other Name.mp4"
    shutil.copyfile(clip, renamed)
    dup = run_cli(settings, "ingest", "--copy", str(renamed))
    assert dup.returncode == 0, dup.stderr  # the content is in the library: nothing went wrong
    assert "duplicate" in dup.stdout and renamed.exists()
    (video,) = await all_videos(settings)
    assert video.source_sha256 == digest


async def test_failures_exit_non_zero_with_one_line(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    missing = run_cli(settings, "ingest", str(tmp_path / "nope.mkv"))
    assert missing.returncode == 1
    assert "nope.mkv" in one_error_line(missing)

    outside = tmp_path / "notes.mkv"
    outside.write_text("not a video")
    refused = run_cli(settings, "ingest", str(outside))
    assert refused.returncode == 1
    assert one_error_line(refused).startswith("kdrama-tui: notes.mkv is not a readable media file")
    assert outside.exists(), "outside a watch folder a refused file stays where it is"

    watch = settings.watch_dirs[0]
    inside = watch / "sub" / "empty.mkv"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"")
    good = make_clip(watch / "sub" / "Fine (2020).mp4", tone=540)
    mixed = run_cli(settings, "ingest", str(watch / "sub"))
    assert mixed.returncode == 1
    assert "empty (0 bytes)" in one_error_line(mixed)
    parked = watch / "failed" / "sub" / "empty.mkv"
    assert parked.exists() and "empty (0 bytes)" in parked.with_name("empty.mkv.error.txt").read_text()
    assert not good.exists() and len(await all_videos(settings)) == 1

    kept_out = run_cli(settings, "ingest", str(parked))
    assert kept_out.returncode == 1 and "never imported" in one_error_line(kept_out) and parked.exists()

    empty_folder = tmp_path / "empty folder"
    empty_folder.mkdir()
    nothing = run_cli(settings, "ingest", str(empty_folder))
    assert nothing.returncode == 1 and "no video files" in one_error_line(nothing)

    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    special = run_cli(settings, "ingest", str(fifo), timeout=60)
    assert special.returncode == 1 and "never read" in one_error_line(special)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can work in (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="kdrama-ingest-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_file_we_may_not_read_is_refused_with_its_reason(
        database_url: str, backend: str, shared_dir: Path) -> None:
    data = shared_dir / "data"
    url = f"sqlite:///{data / 'kdrama.db'}" if backend == "sqlite" else database_url
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(data), "KDRAMA_DATABASE_URL": url})
    watch = settings.watch_dirs[0]
    watch.mkdir(parents=True)
    for folder in (data, watch):
        folder.chmod(0o777)
    locked = make_clip(watch / "Locked (2020).mp4", tone=550)
    readable = make_clip(watch / "Open (2020).mp4", tone=560)
    readable.chmod(0o644)
    # Root reads everything, so the importer runs as "nobody" there; otherwise the file is simply ours.
    user = "65534" if os.geteuid() == 0 else None
    locked.chmod(0o600 if user else 0)
    result = run_cli(settings, "ingest", str(locked), str(readable), user=user,
                     extra_env={"HOME": str(shared_dir)})  # asyncpg looks for client certificates in HOME
    assert result.returncode == 1, result.stdout + result.stderr
    assert "permission denied" in one_error_line(result)
    parked = watch / "failed" / "Locked (2020).mp4"
    assert parked.exists() and stat.S_IMODE(parked.stat().st_mode) == stat.S_IMODE(0o600 if user else 0)
    assert "permission denied" in parked.with_name(parked.name + ".error.txt").read_text()
    assert [v.title for v in await all_videos(settings)] == ["Open"]


async def test_a_subtitle_given_alone_is_attached_to_its_video(settings: Settings, tmp_path: Path) -> None:
    """`ingest Show.S01E03.en.srt` after `ingest Show.S01E03.mp4`: the subtitle becomes a track of that video
    once it plays; before that, and for a name that matches nothing, a clear non-zero answer, file kept."""
    pipeline_settings(settings)
    drop = tmp_path / "drop"
    clip = make_clip(drop / "Crash Landing S01E03.mp4", tone=540, seconds=2.0)
    assert run_cli(settings, "ingest", str(clip)).returncode == 0
    english = drop / "Crash Landing S01E03.en.srt"
    english.write_text(ENGLISH, encoding="utf-8")

    early = run_cli(settings, "ingest", str(english))
    assert early.returncode == 1 and "waiting" in early.stdout and "finish processing" in early.stdout
    assert english.exists()

    svc = await build_services(settings)
    try:
        assert await svc.media.queue.run_until_idle() == 1
        (video,) = await repos_of(svc.db).videos.list()
        assert video.status == "ready"
    finally:
        await svc.close()

    attached = run_cli(settings, "ingest", str(english))
    assert attached.returncode == 0, attached.stderr
    assert f"attached   {english} -> video {video.id}" in attached.stdout
    assert not english.exists(), "moved into storage, as an imported sidecar is"
    korean = drop / "Crash Landing S01E03.ko.srt"
    korean.write_text("1\n00:00:00,000 --> 00:00:01,000\n안녕하세요\n", encoding="utf-8")
    copied = run_cli(settings, "ingest", "--copy", str(korean))
    assert copied.returncode == 0, copied.stderr
    assert korean.exists(), "--copy leaves the file"
    lonely = drop / "Someone Else S01E01.en.srt"
    lonely.write_text(ENGLISH, encoding="utf-8")
    unmatched = run_cli(settings, "ingest", str(lonely))
    assert unmatched.returncode == 1 and "no video matched" in one_error_line(unmatched)
    assert lonely.exists(), "outside a watch folder a refused file stays where it is"

    svc = await build_services(settings)
    try:
        tracks = await repos_of(svc.db).video_files.find_by_video(video.id, "subtitle")
        assert sorted({t.language for t in tracks}) == ["en", "ko"]
        master = (svc.settings.media_root / "videos" / str(video.id) / "hls" / "master.m3u8").read_text()
        assert 'LANGUAGE="en"' in master and 'LANGUAGE="ko"' in master
    finally:
        await svc.close()
