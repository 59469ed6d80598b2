"""The job relay: a ``kdrama-tui worker``'s job events reach the server's bus (and its playback cache), once.

The server side is an in-process Services with ``start_background`` (which runs the relay); the worker is a
real subprocess on the same database and data folder.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.events import Event
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.media.relay import FAST_SECONDS
from tests.media.test_workers import start_worker, stop
from tests.support.media import accept, admin_user, make_clip

# The fields each event carries, as MediaQueue publishes them: relayed events must look the same.
SHAPES = {
    "job.started": {"job_id", "video_id", "attempt", "worker_id"},
    "job.progress": {"job_id", "video_id", "progress"},
    "job.finished": {"job_id", "video_id", "renditions", "duration", "warnings"},
    "video.ready": {"video_id"},
    "job.failed": {"job_id", "video_id", "attempt", "error", "will_retry"},
    "job.cancelled": {"job_id", "video_id"},
    "video.failed": {"video_id", "error"},
}


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough at preset "veryslow" for the worker to write progress a few times (one write per second).
    return make_clip(tmp_path_factory.mktemp("relay") / "episode.mp4", size="320x180", seconds=10)


def server_settings(settings: Settings) -> Settings:
    settings.security.bcrypt_rounds = 4
    settings.streaming.cache_seconds = 3600  # only an event can refresh the playback cache in time
    settings.transcode.segment_seconds = 1
    settings.transcode.preset = "veryslow"
    settings.transcode.poll_seconds = 0.3
    return settings


async def collect_until_ready(inbox: asyncio.Queue[Event], video_id: int, timeout: float) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not any(e.type == "video.ready" and e.data.get("video_id") == video_id for e in events):
        left = deadline - time.monotonic()
        assert left > 0, f"no video.ready within {timeout} s; got {[e.type for e in events]}"
        events.append(await asyncio.wait_for(inbox.get(), left))
    return events


async def drain_for(inbox: asyncio.Queue[Event], seconds: float) -> list[Event]:
    """Everything published in the next ``seconds`` (several relay polls: a duplicate would show up)."""
    await asyncio.sleep(seconds)
    events = []
    while not inbox.empty():
        events.append(inbox.get_nowait())
    return events


def of_job(events: list[Event], job_id: int, video_id: int) -> list[Event]:
    return [e for e in events if e.type in SHAPES and (
        e.data.get("job_id") == job_id or (e.type.startswith("video.") and e.data["video_id"] == video_id))]


def assert_one_run(events: list[Event]) -> list[int]:
    """started, progress..., finished, ready: in that order, each once, progress rising; returns the progress."""
    types = [e.type for e in events]
    assert types[0] == "job.started" and types[-2:] == ["job.finished", "video.ready"], types
    assert set(types[1:-2]) <= {"job.progress"}, types
    for event in events:
        assert set(event.data) == SHAPES[event.type], (event.type, event.data)
    progress = [e.data["progress"] for e in events if e.type == "job.progress"]
    assert progress == sorted(set(progress)), progress  # strictly rising: no value announced twice
    return progress


async def relay_running(svc: Services) -> bool:
    return any(t.get_name() == "media.relay" and not t.done() for t in svc._tasks)


async def test_a_worker_processes_job_events_reach_the_server_bus_once_and_refresh_playback(
        settings: Settings, episode: Path, tmp_path: Path, aiohttp_client: Any) -> None:
    svc = await build_services(server_settings(settings))
    worker = None
    try:
        await svc.start_background(queue=False, ingest=False, schedules=False)  # the relay, no local worker
        assert await relay_running(svc)
        client = await aiohttp_client(create_app(svc))
        with svc.events.subscription() as inbox:
            accepted = await accept(svc, episode, uploader_id=await admin_user(svc))
            video_id, job_id = accepted.video.id, accepted.job.id
            master = f"/hls/{video_id}/master.m3u8"
            before = await client.get(master)  # caches the video as "processing" for cache_seconds
            assert before.status != 200
            worker = start_worker(settings, tmp_path / "worker.log", KDRAMA_TRANSCODE_PRESET="veryslow")
            events = await collect_until_ready(inbox, video_id, timeout=240)
            await asyncio.sleep(0)  # let the playback invalidation task take the same event first
            after = await client.get(master)
            assert after.status == 200, await after.text()
            assert (await after.text()).startswith("#EXTM3U")
            events += await drain_for(inbox, 3 * FAST_SECONDS + 0.5)
        assert stop(worker) == 0

        mine = of_job(events, job_id, video_id)
        progress = assert_one_run(mine)
        assert progress and 0 < progress[-1] <= 99, progress
        assert f":{worker.pid}:" in mine[0].data["worker_id"]  # announced as the worker's, not this process's
        job = await svc.db.repos.jobs.get(job_id)
        assert job.status == "completed"
        assert mine[-2].data["renditions"] == job.output_formats
        assert not [e for e in events if e.type in ("job.failed", "job.cancelled", "video.failed")]
    finally:
        if worker is not None:
            stop(worker)
        await svc.close()


async def test_jobs_the_server_runs_itself_are_announced_once(settings: Settings, episode: Path) -> None:
    svc = await build_services(server_settings(settings))
    try:
        with svc.events.subscription() as inbox:
            await svc.start_background(queue=True, ingest=False, schedules=False)  # local worker and relay
            assert await relay_running(svc)
            accepted = await accept(svc, episode, uploader_id=await admin_user(svc))
            video_id, job_id = accepted.video.id, accepted.job.id
            events = await collect_until_ready(inbox, video_id, timeout=240)
            events += await drain_for(inbox, 3 * FAST_SECONDS + 0.5)
        mine = of_job(events, job_id, video_id)
        progress = assert_one_run(mine)
        assert progress, [e.type for e in mine]  # the job ran through several relay polls
        assert mine[0].data["worker_id"] == svc.media.queue.worker_id
    finally:
        await svc.close()


async def test_a_cancel_by_the_server_of_a_workers_job_is_announced_once(
        settings: Settings, episode: Path, tmp_path: Path) -> None:
    svc = await build_services(server_settings(settings))
    worker = None
    try:
        await svc.start_background(queue=False, ingest=False, schedules=False)
        with svc.events.subscription() as inbox:
            accepted = await accept(svc, episode, uploader_id=await admin_user(svc))
            video_id, job_id = accepted.video.id, accepted.job.id
            worker = start_worker(settings, tmp_path / "worker.log", KDRAMA_TRANSCODE_PRESET="veryslow")
            events: list[Event] = []
            while not any(e.type == "job.progress" and e.data["job_id"] == job_id for e in events):
                events.append(await asyncio.wait_for(inbox.get(), 120))
            await svc.media.queue.cancel(job_id)  # this process announces it; the relay must not repeat it
            events += await drain_for(inbox, 3 * FAST_SECONDS + 0.5)
        assert stop(worker) == 0
        types = [e.type for e in of_job(events, job_id, video_id)]
        assert types[0] == "job.started" and types[-2:] == ["job.cancelled", "video.failed"], types
        assert set(types[1:-2]) == {"job.progress"}, types
        assert (await svc.db.repos.videos.get(video_id)).status == "failed"
    finally:
        if worker is not None:
            stop(worker)
        await svc.close()


async def test_a_workers_failed_job_is_relayed_with_the_video_failure(
        settings: Settings, episode: Path, tmp_path: Path) -> None:
    svc = await build_services(server_settings(settings))
    worker = None
    try:
        await svc.start_background(queue=False, ingest=False, schedules=False)
        with svc.events.subscription() as inbox:
            accepted = await accept(svc, episode, uploader_id=await admin_user(svc))
            video_id, job_id = accepted.video.id, accepted.job.id
            original = next(f for f in await svc.db.repos.video_files.find_by_video(video_id)
                            if f.file_type == "original")
            stored = svc.storage.local_path(original.file_path)
            assert stored is not None
            stored.write_bytes(b"not a video any more\n" * 100)  # damaged on disk after it was accepted
            worker = start_worker(settings, tmp_path / "worker.log", KDRAMA_TRANSCODE_MAX_ATTEMPTS="1")
            events: list[Event] = []
            while not any(e.type == "video.failed" for e in events):
                events.append(await asyncio.wait_for(inbox.get(), 120))
            events += await drain_for(inbox, 3 * FAST_SECONDS + 0.5)
        assert stop(worker) == 0
        mine = of_job(events, job_id, video_id)
        assert [e.type for e in mine] == ["job.started", "job.failed", "video.failed"]
        for event in mine:
            assert set(event.data) == SHAPES[event.type], (event.type, event.data)
        job = await svc.db.repos.jobs.get(job_id)
        failed = mine[1].data
        assert (failed["attempt"], failed["will_retry"]) == (1, False)
        assert failed["error"] and job.error_message.startswith(failed["error"])
        assert mine[2].data["error"] == failed["error"]
    finally:
        if worker is not None:
            stop(worker)
        await svc.close()
