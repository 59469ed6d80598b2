"""The job relay: a ``kdrama-tui worker``'s job events reach the server's bus (and its playback cache), once.

The server side is an in-process Services with ``start_background`` (which runs the relay); the worker is a
real subprocess on the same database and data folder.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.events import Event
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from kdrama_tui.services.transcoding.relay import FAST_SECONDS, JobRelay
from tests.services.transcoding.test_workers import start_worker, stop
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
        uid = await admin_user(svc)
        key, _ = await svc.accounts.issue_api_key(uid, "dashboard")
        dashboard = await client.ws_connect("/api/admin/events", headers={"X-API-Key": key})
        with svc.events.subscription() as inbox:
            accepted = await accept(svc, episode, uploader_id=uid)
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
        streamed: list[Event] = []  # what the dashboard's live stream carried meanwhile
        while not any(e.type == "video.ready" and e.data["video_id"] == video_id for e in streamed):
            item = json.loads((await dashboard.receive(timeout=10)).data)
            if item["kind"] == "event":
                streamed.append(Event(item["type"], item["data"], item["id"], item["ts"]))
        await dashboard.close()

        mine = of_job(events, job_id, video_id)
        progress = assert_one_run(mine)
        assert progress and 0 < progress[-1] <= 99, progress
        assert [(e.type, e.data) for e in of_job(streamed, job_id, video_id)] == [(e.type, e.data) for e in mine]
        assert f":{worker.pid}:" in mine[0].data["worker_id"]  # announced as the worker's, not this process's
        job = await repos_of(svc.db).jobs.get(job_id)
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
        assert (await repos_of(svc.db).videos.get(video_id)).status == "failed"
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
            original = next(f for f in await repos_of(svc.db).video_files.find_by_video(video_id)
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
        job = await repos_of(svc.db).jobs.get(job_id)
        failed = mine[1].data
        assert (failed["attempt"], failed["will_retry"]) == (1, False)
        assert failed["error"] and job.error_message.startswith(failed["error"])
        assert mine[2].data["error"] == failed["error"]
    finally:
        if worker is not None:
            stop(worker)
        await svc.close()


async def test_polls_tell_other_processes_jobs_from_this_processes_own(settings: Settings, episode: Path) -> None:
    """Row changes made as the workers make them, polled one poll at a time: a job another worker ran entirely
    between two polls is still announced, as is a cancellation made by another process (one poll late); a job
    this process's worker ran between two polls is not, even when its row completes before this process
    announced it."""
    own, other = "server:1:aaaaaa", "elsewhere:2:bbbbbb"
    svc = await build_services(server_settings(settings))

    async def claim(worker_id: str, job_id: int) -> None:
        async with svc.db.transaction() as tx:
            job = await repos_of(tx).jobs.claim_next(worker_id, utcnow(), utcnow() + timedelta(minutes=5))
            assert job is not None and job.id == job_id

    async def complete(job_id: int, worker_id: str, video_id: int) -> None:
        async with svc.db.transaction() as tx:
            assert await repos_of(tx).jobs.finish_held(job_id, worker_id, {
                "status": "completed", "progress": 100, "completed_at": utcnow(), "output_formats": ["180p"]})
            await repos_of(tx).videos.update(video_id, {"status": "ready", "duration_seconds": 10})

    try:
        uid = await admin_user(svc)
        with svc.events.subscription() as relay_inbox, svc.events.subscription() as inbox:
            relay = JobRelay(svc.db, svc.events, own)
            await relay.prime()
            a, b, c = [await accept(svc, episode, uploader_id=uid, title=t) for t in "ABC"]
            await relay.poll(relay_inbox)
            await claim(other, a.job.id)
            await complete(a.job.id, other, a.video.id)
            await claim(own, b.job.id)
            svc.events.publish("job.started", job_id=b.job.id, video_id=b.video.id, attempt=1, worker_id=own)
            await complete(b.job.id, own, b.video.id)  # the local job.finished is not out yet
            await claim(other, c.job.id)
            assert await repos_of(svc.db).jobs.touch(c.job.id, other, utcnow(), utcnow() + timedelta(minutes=5), 40)
            await relay.poll(relay_inbox)
            svc.events.publish("job.finished", job_id=b.job.id, video_id=b.video.id, renditions=["180p"],
                               duration=10.0, warnings=[])
            svc.events.publish("video.ready", video_id=b.video.id)
            async with svc.db.transaction() as tx:  # as MediaQueue.cancel does in another server process
                assert await repos_of(tx).jobs.cancel(c.job.id, utcnow())
                await repos_of(tx).videos.update(c.video.id, {"status": "failed"})
            for _ in range(3):
                await relay.poll(relay_inbox)
            events = await drain_for(inbox, 0)
        relayed_a = of_job(events, a.job.id, a.video.id)
        assert [e.type for e in relayed_a] == ["job.started", "job.finished", "video.ready"]
        assert relayed_a[1].data == {"job_id": a.job.id, "video_id": a.video.id, "renditions": ["180p"],
                                     "duration": 10.0, "warnings": []}
        assert [e.type for e in of_job(events, b.job.id, b.video.id)] == [
            "job.started", "job.finished", "video.ready"]  # only the three this test published as the queue
        relayed_c = of_job(events, c.job.id, c.video.id)
        assert [(e.type, e.data) for e in relayed_c] == [
            ("job.started", {"job_id": c.job.id, "video_id": c.video.id, "attempt": 1, "worker_id": other}),
            ("job.progress", {"job_id": c.job.id, "video_id": c.video.id, "progress": 40}),
            ("job.cancelled", {"job_id": c.job.id, "video_id": c.video.id}),
            ("video.failed", {"video_id": c.video.id, "error": "transcoding was cancelled"})]
    finally:
        await svc.close()


async def test_another_workers_early_rendition_is_relayed_as_playable(settings: Settings, episode: Path) -> None:
    """A worker elsewhere publishes its copied rendition first: the server hears which renditions play and
    how far the rest are (job.ladder), and its playback cache that the video changed (video.updated)."""
    other = "elsewhere:2:bbbbbb"
    svc = await build_services(server_settings(settings))

    def ladder(ready_low: bool, progress: int) -> dict[str, Any]:
        return {"path": "copy", "reason": "H.264 High 4", "encoder": "libx264", "renditions": [
            {"name": "144p", "width": 256, "height": 144, "source": "encoded", "progress": progress,
             "ready": ready_low},
            {"name": "180p", "width": 320, "height": 180, "source": "copy", "progress": 100, "ready": True}]}

    try:
        uid = await admin_user(svc)
        with svc.events.subscription() as relay_inbox, svc.events.subscription() as inbox:
            relay = JobRelay(svc.db, svc.events, "server:1:aaaaaa")
            await relay.prime()
            a = await accept(svc, episode, uploader_id=uid)
            async with svc.db.transaction() as tx:
                assert await repos_of(tx).jobs.claim_next(other, utcnow(), utcnow() + timedelta(minutes=5))
            touch = repos_of(svc.db).jobs.touch
            assert await touch(a.job.id, other, utcnow(), utcnow() + timedelta(minutes=5), 10, ladder(False, 0))
            await relay.poll(relay_inbox)
            assert await touch(a.job.id, other, utcnow(), utcnow() + timedelta(minutes=5), 50, ladder(False, 60))
            await relay.poll(relay_inbox)
            await relay.poll(relay_inbox)  # nothing changed: nothing announced again
            events = await drain_for(inbox, 0)
        mine = [(e.type, e.data) for e in events if e.data.get("video_id") == a.video.id
                and e.type in ("job.ladder", "video.updated")]
        assert mine == [
            ("video.updated", {"video_id": a.video.id, "playable": True, "path": "copy", "reason": "H.264 High 4",
                               "encoder": "libx264", "renditions_ready": ["180p"],
                               "renditions_progress": {"144p": 0}}),
            ("job.ladder", {"job_id": a.job.id, "video_id": a.video.id, "path": "copy", "reason": "H.264 High 4",
                            "encoder": "libx264", "renditions_ready": ["180p"], "renditions_progress": {"144p": 0}}),
            ("job.ladder", {"job_id": a.job.id, "video_id": a.video.id, "path": "copy", "reason": "H.264 High 4",
                            "encoder": "libx264", "renditions_ready": ["180p"], "renditions_progress": {"144p": 60}})]
    finally:
        await svc.close()
