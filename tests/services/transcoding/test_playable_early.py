"""A copied top rendition makes the video playable before the rest of its ladder is encoded (both databases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import m3u8
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.errors import Conflict
from kdrama_tui.media.transcoder import LocalServerTranscoder
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services, build_services
from tests.support.media import accept, admin_user, assert_recorded_files_match_storage, make_clip

LADDER = [{"name": "144p", "height": 144, "video_bitrate": "150k", "audio_bitrate": "64k"},
          {"name": "180p", "height": 180, "video_bitrate": "300k", "audio_bitrate": "96k"}]


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("early") / "episode.mp4", seconds=4,
                     extra_out=["-g", "25", "-sc_threshold", "0", "-ac", "2"])


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    settings.transcode.segment_seconds = 1
    settings.transcode.nice = 0
    settings.transcode.ladder = LADDER
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


class HeldLadder(LocalServerTranscoder):
    """The real transcoder, with the encode of the lower renditions held until the test lets it go."""

    def __init__(self, binaries, gate: asyncio.Event, reached: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        super().__init__(binaries)
        self.gate, self.reached = gate, reached

    async def _encode(self, run, plan, **kwargs) -> None:  # type: ignore[no-untyped-def,override]
        self.reached.set()
        await self.gate.wait()
        await super()._encode(run, plan, **kwargs)


async def test_the_copied_rendition_plays_while_the_others_encode(svc: Services, h264_clip: Path) -> None:
    gate, reached = asyncio.Event(), asyncio.Event()
    svc.media.queue.transcoders[LocalServerTranscoder.name] = HeldLadder(svc.media.binaries, gate, reached)
    accepted = await accept(svc, h264_clip, uploader_id=await admin_user(svc))
    video_id = accepted.video.id
    worker = asyncio.create_task(svc.media.queue.run_until_idle())
    try:
        await asyncio.wait_for(reached.wait(), 60)
        video = await repos_of(svc.db).videos.get(video_id)
        assert video.status == "ready" and video.duration_seconds == 4
        files = await repos_of(svc.db).video_files.find_by_video(video_id)
        kinds = {f.file_type for f in files}
        assert "master_playlist" in kinds and "transcoded_180p" in kinds and "transcoded_144p" not in kinds
        master_row = next(f for f in files if f.file_type == "master_playlist")
        master = m3u8.loads(b"".join([c async for c in svc.storage.read(master_row.file_path)]).decode())
        assert [p.uri for p in master.playlists] == ["180p/index.m3u8"]
        (job,) = await svc.media.queue.list_jobs(video_id=video_id)
        assert job["status"] == "processing"
        ladder = job["ladder"]
        assert ladder["path"] == "copy" and "AAC-LC stereo audio copied" in ladder["reason"]
        assert ladder["encoder"] == "libx264"
        assert [(r["name"], r["source"], r["ready"]) for r in ladder["renditions"]] == [
            ("144p", "encoded", False), ("180p", "copy", True)]
        # Adding a subtitle now would be dropped by the job's final master: it waits for the job.
        with pytest.raises(Conflict) as refused:
            await svc.media.tracks.add(video_id, b"1\n00:00:00,000 --> 00:00:01,000\nhi\n", filename="x.srt",
                                       language="en", label=None)
        assert refused.value.code == "video_not_ready"
        gate.set()
        assert await asyncio.wait_for(worker, 120) == 1
    finally:
        gate.set()
        if not worker.done():
            worker.cancel()
    events = svc.events.recent(1000)
    playable = [e for e in events if e.type == "video.updated" and e.data.get("playable")]
    assert len(playable) == 1 and playable[0].data["renditions_ready"] == ["180p"]
    assert playable[0].data["renditions_progress"] == {"144p": 0}
    ladders = [e.data for e in events if e.type == "job.ladder"]
    assert ladders and ladders[0]["path"] == "copy"
    (job,) = await svc.media.queue.list_jobs(video_id=video_id)
    assert job["status"] == "completed" and job["output_formats"] == ["144p", "180p"]
    assert all(r["ready"] and r["progress"] == 100 for r in job["ladder"]["renditions"])
    files = await repos_of(svc.db).video_files.find_by_video(video_id)
    master_row = next(f for f in files if f.file_type == "master_playlist")
    master = m3u8.loads(b"".join([c async for c in svc.storage.read(master_row.file_path)]).decode())
    assert sorted(p.uri for p in master.playlists) == ["144p/index.m3u8", "180p/index.m3u8"]
    await assert_recorded_files_match_storage(svc, video_id)


async def test_with_copy_source_off_nothing_is_published_before_the_end(svc: Services, h264_clip: Path) -> None:
    svc.settings.transcode.copy_source = False
    accepted = await accept(svc, h264_clip, uploader_id=await admin_user(svc))
    assert await svc.media.queue.run_until_idle() == 1
    types = [e.type for e in svc.events.recent(1000)]
    assert "video.updated" not in types and types[-1] == "video.ready"
    (job,) = await svc.media.queue.list_jobs(video_id=accepted.video.id)
    assert job["ladder"]["path"] == "full" and job["ladder"]["reason"] == "transcode.copy_source is off"
    assert all(r["source"] == "encoded" for r in job["ladder"]["renditions"])
