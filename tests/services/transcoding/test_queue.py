"""The transcode queue end to end with real ffmpeg, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import imageio_ffmpeg
import m3u8
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.media.binaries import Binaries
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.library.handoff import SubtitleSidecar
from kdrama_tui.services.transcoding.service import MediaService
from tests.media.test_subtitles import KOREAN_SRT, TWO_LANGUAGE_SMI
from tests.support.media import accept, admin_user, assert_recorded_files_match_storage, make_clip, wait_until


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    settings.transcode.segment_seconds = 1
    settings.transcode.retry_backoff_seconds = 0
    settings.transcode.nice = 0
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", size="640x360", seconds=20)


def events_of(svc: Services, prefix: str = "") -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in svc.events.recent(200, prefix)]


def work_dirs(svc: Services) -> list[Path]:
    root = svc.settings.work_dir / "transcode"
    return list(root.iterdir()) if root.is_dir() else []


async def test_accepted_original_becomes_a_ready_hls_video(svc: Services, clips: dict[str, Path],
                                                         tmp_path: Path) -> None:
    srt = tmp_path / "episode.ko.srt"
    srt.write_bytes(KOREAN_SRT.encode("cp949"))
    smi = tmp_path / "episode.smi"
    smi.write_bytes(TWO_LANGUAGE_SMI.encode("cp949"))
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["basic"], uploader_id=uid,
                            sidecars=[SubtitleSidecar(srt, "ko", None), SubtitleSidecar(smi)])
    assert await svc.media.queue.run_until_idle() == 1
    video = await repos_of(svc.db).videos.get(accepted.video.id)
    assert video.status == "ready" and video.duration_seconds == 3
    job = await repos_of(svc.db).jobs.get(accepted.job.id)
    assert (job.status, job.progress, job.input_format, job.output_formats) == ("completed", 100, "mov", ["180p"])
    assert job.worker_id is None and job.lease_expires_at is None and job.claims == 1
    rows = await assert_recorded_files_match_storage(svc, video.id)
    kinds = {r.file_type for r in rows}
    assert kinds == {"master_playlist", "transcoded_180p", "subtitle", "thumbnail", "sprite", "sprite_vtt"}
    mimes = {r.file_path.rsplit(".", 1)[1]: r.mime_type for r in rows}
    assert mimes == {"m3u8": "application/vnd.apple.mpegurl", "mp4": "video/mp4", "m4s": "video/iso.segment",
                     "vtt": "text/vtt", "jpg": "image/jpeg"}
    hls = svc.storage.local_path(f"videos/{video.id}/hls")
    assert hls is not None
    master = m3u8.loads((hls / "master.m3u8").read_text())
    assert {(m.language, m.name) for m in master.media} == {("ko", "Korean"), ("ko-KR", "한국어"),
                                                            ("en-US", "English")}
    subtitle_rows = {(r.language, r.label) for r in rows if r.file_type == "subtitle"}
    assert subtitle_rows == {("ko", "Korean"), ("ko-KR", "한국어"), ("en-US", "English")}
    assert (hls / "poster.jpg").is_file() and (hls / "thumbs" / "sprite.jpg").is_file()
    types = [t for t, _ in events_of(svc) if t.startswith(("job.", "video."))]
    assert types[:3] == ["video.created", "job.queued", "job.started"]
    assert types[-2:] == ["job.finished", "video.ready"]
    assert work_dirs(svc) == []  # nothing left in the scratch space


@pytest.mark.parametrize("kind,reason", [("text", "not a readable media file"),
                                         ("jpeg", "not a video container we accept"),
                                         ("nomoov", "not a readable media file"), ("truncated", "truncated")])
async def test_bad_originals_fail_without_retries(svc: Services, clips: dict[str, Path], kind: str,
                                                  reason: str) -> None:
    uid = await admin_user(svc)
    accepted = await accept(svc, clips[kind], uploader_id=uid)
    assert await svc.media.queue.run_until_idle() == 1
    jobs = await repos_of(svc.db).jobs.find_by_video(accepted.video.id)
    assert len(jobs) == 1  # retrying cannot make a bad file playable
    assert jobs[0].status == "failed" and reason in (jobs[0].error_message or "")
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "failed"
    assert await svc.storage.list(f"videos/{accepted.video.id}/") == []
    assert work_dirs(svc) == []
    assert ("video.failed", {"video_id": accepted.video.id, "error": jobs[0].error_message.splitlines()[0]}) \
        in events_of(svc, "video.")


async def test_hostile_file_names_never_reach_a_shell_or_an_option(svc: Services, clips: dict[str, Path],
                                                                  tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "-i $(touch pwned) `touch pwned2`.mp4"
    source.write_bytes(clips["basic"].read_bytes())
    sidecar = tmp_path / "-y $(touch pwned3).srt"
    sidecar.write_bytes(KOREAN_SRT.encode("utf-8"))
    uid = await admin_user(svc)
    accepted = await accept(svc, source, uploader_id=uid, filename=source.name,
                            sidecars=[SubtitleSidecar(sidecar, "ko")])
    await svc.media.queue.run_until_idle()
    video = await repos_of(svc.db).videos.get(accepted.video.id)
    assert video.status == "ready" and video.original_filename == source.name
    assert not any(p.name.startswith("pwned") for p in tmp_path.rglob("pwned*"))
    assert not Path("pwned").exists()


async def test_ffmpeg_failures_retry_as_new_jobs_with_backoff_then_fail_the_video(
        svc: Services, clips: dict[str, Path]) -> None:
    svc.settings.transcode.preset = "no-such-preset"  # x264 refuses it: a real ffmpeg failure
    svc.settings.transcode.retry_backoff_seconds = 30
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["basic"], uploader_id=uid)
    before = utcnow()
    assert await svc.media.queue.run_until_idle() == 1  # the retry is not due yet
    first, retry = await repos_of(svc.db).jobs.find_by_video(accepted.video.id)
    assert first.status == "failed" and "ffmpeg exited with status" in first.error_message
    assert "no-such-preset" in first.error_message  # ffmpeg's own stderr lines are kept
    assert (retry.status, retry.attempt, retry.retry_of_id) == ("queued", 2, first.id)
    assert timedelta(seconds=29) < retry.run_after - before < timedelta(seconds=40)
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "processing"
    # Due now: it fails again, and the next retry waits twice as long.
    await repos_of(svc.db).jobs.update(retry.id, {"run_after": utcnow() - timedelta(seconds=1)})
    before = utcnow()
    assert await svc.media.queue.run_until_idle() == 1
    third = (await repos_of(svc.db).jobs.find_by_video(accepted.video.id))[-1]
    assert third.attempt == 3 and timedelta(seconds=59) < third.run_after - before < timedelta(seconds=70)
    await repos_of(svc.db).jobs.update(third.id, {"run_after": utcnow()})
    assert await svc.media.queue.run_until_idle() == 1
    jobs = await repos_of(svc.db).jobs.find_by_video(accepted.video.id)
    assert [(j.attempt, j.status) for j in jobs] == [(1, "failed"), (2, "failed"), (3, "failed")]  # max_attempts
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "failed"
    types = [t for t, _ in events_of(svc)]
    assert types.count("job.failed") == 3 and types.count("job.retry_scheduled") == 2
    assert types[-1] == "video.failed"
    # An admin fixes the cause and queues it again: it succeeds.
    svc.settings.transcode.preset = "veryfast"
    await svc.media.queue.enqueue(accepted.video.id, priority=2)
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "processing"
    await svc.media.queue.run_until_idle()
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"


async def test_jobs_run_by_priority_then_age(svc: Services, clips: dict[str, Path]) -> None:
    uid = await admin_user(svc)
    made = []
    for priority in (5, 9, 1, 5):
        made.append((await accept(svc, clips["tiny"], uploader_id=uid, priority=priority)).job.id)
    await svc.media.queue.set_priority(made[1], 2)  # the admin moves one up
    await svc.media.queue.run_until_idle()
    started = [d["job_id"] for t, d in events_of(svc, "job.started")]
    assert started == [made[2], made[1], made[0], made[3]]
    listing = await svc.media.queue.list_jobs()
    assert [j["id"] for j in listing] == sorted(made, reverse=True)  # finished ones: newest first
    assert listing[0]["video_title"] == "Clip"


async def test_cancelling_a_running_job_kills_ffmpeg_and_removes_partial_output(
        svc: Services, long_clip: Path) -> None:
    svc.settings.transcode.preset = "veryslow"
    uid = await admin_user(svc)
    accepted = await accept(svc, long_clip, uploader_id=uid)
    runner = asyncio.create_task(svc.media.queue.run())
    try:
        job_id = accepted.job.id
        progressed = await wait_until(lambda: _progress_above(svc, job_id, 0), timeout=60)
        assert 0 < progressed.progress < 100 and progressed.status == "processing"
        (work,) = work_dirs(svc)
        assert _ffmpeg_writing_to(work)
        cancelled = await svc.media.queue.cancel(job_id)
        assert cancelled.status == "cancelled"
        await wait_until(lambda: not work.exists() and not _ffmpeg_writing_to(work), timeout=15)
        assert (await repos_of(svc.db).jobs.get(job_id)).status == "cancelled"
        assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "failed"
        assert await svc.storage.list(f"videos/{accepted.video.id}/") == []
        with pytest.raises(Exception, match="already cancelled"):
            await svc.media.queue.cancel(job_id)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def _progress_above(svc: Services, job_id: int, value: int):  # type: ignore[no-untyped-def]
    job = await repos_of(svc.db).jobs.get(job_id)
    return job if job.progress > value else None


def _ffmpeg_writing_to(folder: Path) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
            if "ffmpeg" in cmdline and str(folder) in cmdline:
                return True
    return False


async def test_queued_jobs_can_be_cancelled_and_reprioritised_only_while_queued(
        svc: Services, clips: dict[str, Path]) -> None:
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["tiny"], uploader_id=uid)
    with pytest.raises(Exception, match="1-10"):
        await svc.media.queue.set_priority(accepted.job.id, 0)
    await svc.media.queue.cancel(accepted.job.id)
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "failed"
    with pytest.raises(Exception, match="only a queued job"):
        await svc.media.queue.set_priority(accepted.job.id, 3)
    assert await svc.media.queue.run_until_idle() == 0
    job = await svc.media.queue.enqueue(accepted.video.id)
    with pytest.raises(Exception, match="already queued"):
        await svc.media.queue.enqueue(accepted.video.id)
    await svc.media.queue.run_until_idle()
    assert (await repos_of(svc.db).jobs.get(job.id)).status == "completed"


async def test_an_expired_lease_is_taken_over_and_the_job_starts_clean(svc: Services, clips: dict[str, Path],
                                                                       settings: Settings) -> None:
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["basic"], uploader_id=uid)
    crashed = svc.media.queue
    job = await crashed.claim()  # claimed, then the "worker" dies: nothing renews the lease
    assert job is not None and job.worker_id == crashed.worker_id
    leftover = crashed.work_root / f"job-{job.id}-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "partial.m4s").write_bytes(b"half")
    other = MediaService(svc.db, svc.storage, svc.storages, svc.events, settings, worker_id="other-worker")
    assert await other.queue.run_until_idle() == 0  # the lease is still valid: nobody else may take it
    await repos_of(svc.db).jobs.update(job.id, {"lease_expires_at": utcnow() - timedelta(seconds=1)})
    assert await other.queue.run_until_idle() == 1
    done = await repos_of(svc.db).jobs.get(job.id)
    assert (done.status, done.claims) == ("completed", 2)
    assert not leftover.exists()
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"
    now = utcnow()
    assert not await repos_of(svc.db).jobs.touch(job.id, crashed.worker_id, now, now)  # the old holder lost it


async def test_deleting_a_video_mid_job_leaves_no_orphans(svc: Services, long_clip: Path) -> None:
    svc.settings.transcode.preset = "veryslow"
    uid = await admin_user(svc)
    accepted = await accept(svc, long_clip, uploader_id=uid)
    runner = asyncio.create_task(svc.media.queue.run())
    try:
        await wait_until(lambda: _progress_above(svc, accepted.job.id, 0), timeout=60)
        (work,) = work_dirs(svc)
        await repos_of(svc.db).videos.delete(accepted.video.id)
        await wait_until(lambda: not work.exists() and not _ffmpeg_writing_to(work), timeout=15)
        assert await svc.storage.list(f"videos/{accepted.video.id}/") == []
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_retranscoding_a_ready_video_replaces_its_files(svc: Services, clips: dict[str, Path]) -> None:
    svc.settings.transcode.ladder = [
        {"name": "low", "height": 144, "video_bitrate": "200k", "audio_bitrate": "64k"},
        {"name": "mid", "height": 180, "video_bitrate": "400k", "audio_bitrate": "96k"}]
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["basic"], uploader_id=uid)
    await svc.media.queue.run_until_idle()
    assert {r.file_type for r in await assert_recorded_files_match_storage(svc, accepted.video.id)} >= {
        "transcoded_low", "transcoded_mid"}
    svc.settings.transcode.ladder = svc.settings.transcode.ladder[1:]
    await svc.media.queue.enqueue(accepted.video.id)
    assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"  # still streams meanwhile
    await svc.media.queue.run_until_idle()
    rows = await assert_recorded_files_match_storage(svc, accepted.video.id)
    assert "transcoded_low" not in {r.file_type for r in rows}
    assert len([r for r in rows if r.file_type == "master_playlist"]) == 1


async def test_probing_and_transcoding_work_with_the_wheel_ffmpeg_alone(svc: Services, clips: dict[str, Path],
                                                                        settings: Settings) -> None:
    wheel_only = MediaService(svc.db, svc.storage, svc.storages, svc.events, settings,
                              binaries=Binaries(ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), ffprobe=None))
    uid = await admin_user(svc)
    accepted = await accept(svc, clips["withsubs"], uploader_id=uid)
    assert await wheel_only.queue.run_until_idle() == 1
    video = await repos_of(svc.db).videos.get(accepted.video.id)
    assert video.status == "ready" and video.duration_seconds == 3
    rows = await assert_recorded_files_match_storage(svc, video.id)
    assert {(r.language, r.label) for r in rows if r.file_type == "subtitle"} == {("en", "English")}


async def test_background_queue_wakes_on_job_queued_and_polls_for_other_processes(
        svc: Services, clips: dict[str, Path], settings: Settings) -> None:
    svc.settings.transcode.poll_seconds = 3600  # only the event can wake it quickly
    await svc.start_background(queue=True, ingest=False, schedules=False)
    uid = await admin_user(svc)
    here = await accept(svc, clips["tiny"], uploader_id=uid)

    async def ready(video_id: int) -> bool:
        return (await repos_of(svc.db).videos.get(video_id)).status == "ready"

    await wait_until(lambda: ready(here.video.id), timeout=30)
    # Another process queues a job: no event reaches this one, the poll finds it.
    svc.settings.transcode.poll_seconds = 0.2
    await svc.media.queue.enqueue(here.video.id)  # wake once so the new poll interval takes effect
    other_settings = Settings(data_dir=settings.data_dir, database=settings.database)
    other = await build_services(other_settings)
    try:
        there = await accept(other, clips["tiny"], uploader_id=uid, title="From elsewhere")
        await wait_until(lambda: ready(there.video.id), timeout=30)
        assert "job.started" in [t for t, d in events_of(svc) if d.get("job_id") == there.job.id]
        assert await other.media.queue.run_until_idle() == 0
    finally:
        await other.close()
