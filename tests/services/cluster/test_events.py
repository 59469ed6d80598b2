"""Cross-node invalidation and events through PostgreSQL LISTEN/NOTIFY: a change made through one node is seen
by every other node's playback cache within 2 s (their cache would otherwise keep it for cache_seconds = 30 s),
and each node's event stream shows the others' events, tagged by node."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from asyncpg import connect as asyncpg_connect

from kdrama_tui.config import load_settings
from kdrama_tui.errors import DomainError, NotFound, Unauthorized
from kdrama_tui.events import Event
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.service import Viewer
from kdrama_tui.services.container import Services
from tests.support.auth import make_user, running_services
from tests.support.hls import build_hls, install_video
from tests.support.media import accept, make_clip
from tests.support.postgres import PostgresCluster

MASTER = base64.b64encode(secrets.token_bytes(32)).decode()
_names = itertools.count(1)
WITHIN = 2.0


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hls(tmp_path_factory.mktemp("hls") / "out")


@pytest.fixture
async def nodes(postgres_cluster: PostgresCluster, tmp_path: Path) -> AsyncIterator[tuple[Services, Services]]:
    """Two web nodes on one PostgreSQL and one shared media folder (as an NFS mount would be)."""
    url = await postgres_cluster.create_database(f"events_{os.getpid()}_{next(_names)}")
    async with AsyncExitStack() as stack:
        started = []
        for name in ("web-a", "web-b"):
            settings = load_settings(env={
                "KDRAMA_DATA_DIR": str(tmp_path / name), "KDRAMA_DATABASE_URL": url, "KDRAMA_SERVER_NODE_NAME": name,
                "KDRAMA_SECURITY_MASTER_KEY": MASTER, "KDRAMA_STORAGE_LOCAL_ROOT": str(tmp_path / "media")})
            svc = await stack.enter_async_context(running_services(settings))
            await svc.start_background(queue=False, ingest=False, schedules=False)
            started.append(svc)
        await asyncio.sleep(0.2)  # both listeners subscribed
        yield started[0], started[1]


async def until(check: Callable[[], Awaitable[bool]], what: str) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < WITHIN, f"{what}: not within {WITHIN} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def refused(node: Services, video_id: int, token: str | None = None) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            await node.playback.authorize(video_id, token)
        except (Unauthorized, NotFound, DomainError):
            return True
        return False

    return check


async def test_a_privacy_change_on_one_node_is_refused_by_the_other_within_two_seconds(
        nodes: tuple[Services, Services], hls: Path) -> None:
    a, b = nodes
    owner = await make_user(a)
    video = await install_video(a, hls, owner_id=owner.id)
    assert (await b.playback.authorize(video.id, None)).is_public  # cached on B as public
    await a.catalog.update(video.id, Viewer(owner.id), {"is_public": False})
    took = await until(refused(b, video.id), "B still plays the video without a token")
    assert took < WITHIN
    token, _ = a.playback.tokens.issue(video.id)
    assert not (await b.playback.authorize(video.id, token)).is_public  # with A's token it plays on B


async def test_a_delete_and_a_new_subtitle_reach_the_other_node(nodes: tuple[Services, Services], hls: Path) -> None:
    a, b = nodes
    owner = await make_user(a)
    video = await install_video(a, hls, owner_id=owner.id)
    await repos_of(a.db).video_files.create({  # what the pipeline keeps beside the HLS output
        "video_id": video.id, "file_type": "original", "storage_provider": "local",
        "file_path": f"originals/{video.id}/source.mkv", "file_size": 1, "checksum": "0" * 64})
    before = await b.playback.authorize(video.id, None)
    await a.media.tracks.add(video.id, b"WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n", filename="fr.vtt",
                             language="fr", label="Francais")

    async def has_french() -> bool:
        return "fr" in {t.lang for t in (await b.playback.authorize(video.id, None)).subtitles}

    await until(has_french, "B does not list the new subtitle")
    assert "fr" not in {t.lang for t in before.subtitles}
    await a.catalog.delete(video.id, Viewer(owner.id))
    await until(refused(b, video.id), "B still plays a deleted video")


async def test_each_node_streams_the_others_events_tagged_by_node(nodes: tuple[Services, Services]) -> None:
    a, b = nodes
    seen: list[Event] = []

    async def collect() -> None:
        async for event in b.events.stream():
            if event.type == "user.created":
                seen.append(event)

    collector = asyncio.create_task(collect())
    try:
        await make_user(a, "hyun")

        async def arrived() -> bool:
            return bool(seen)

        await until(arrived, "B's event stream lacks A's user.created")
        assert seen[0].data["node"] == "web-a" and seen[0].data["username"] == "hyun"
        await asyncio.sleep(0.3)
        assert len(seen) == 1  # once, and never sent back to A as B's
        assert not [e for e in a.events.recent(200) if e.type == "user.created" and e.data.get("node")]
    finally:
        collector.cancel()


async def test_a_node_that_lost_its_listening_connection_resumes_and_starts_its_cache_afresh(
        postgres_cluster: PostgresCluster, nodes: tuple[Services, Services], hls: Path) -> None:
    a, b = nodes
    owner = await make_user(a)
    video = await install_video(a, hls, owner_id=owner.id)
    await b.playback.authorize(video.id, None)
    resumed = asyncio.Event()

    async def watch() -> None:
        async for event in b.events.stream():
            if event.type == "cluster.events_resumed":
                resumed.set()

    watcher = asyncio.create_task(watch())
    admin = await asyncpg_connect(postgres_cluster.url())
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE $1 "
            "AND query LIKE 'LISTEN%'", "% web-b %")
        assert killed == 1
        # Changes made while B was deaf are lost as messages; B must not keep serving what it cached.
        await repos_of(a.db).videos.update(video.id, {"is_public": False})
        await asyncio.wait_for(resumed.wait(), 10)
        assert await refused(b, video.id)()
        await a.catalog.update(video.id, Viewer(owner.id), {"is_public": True})  # and messages flow again

        async def plays() -> bool:
            return not await refused(b, video.id)()

        await until(plays, "B did not hear that the video is public again")
        await a.catalog.update(video.id, Viewer(owner.id), {"is_public": False})
        await until(refused(b, video.id), "B no longer hears A after reconnecting")
    finally:
        await admin.close()
        watcher.cancel()


async def test_a_worker_hears_a_job_queued_on_a_web_node_at_once(
        nodes: tuple[Services, Services], tmp_path: Path) -> None:
    a, _ = nodes
    settings = load_settings(env={
        "KDRAMA_DATA_DIR": str(tmp_path / "worker"), "KDRAMA_DATABASE_URL": a.settings.database_url,
        "KDRAMA_SERVER_NODE_NAME": "worker-1", "KDRAMA_SECURITY_MASTER_KEY": MASTER,
        "KDRAMA_STORAGE_LOCAL_ROOT": str(tmp_path / "media"), "KDRAMA_TRANSCODE_POLL_SECONDS": "60"})
    async with running_services(settings) as worker:
        worker.follow_cluster()
        queue = asyncio.create_task(worker.media.queue.run())
        try:
            await asyncio.sleep(0.5)  # its first look found nothing: now it waits up to a minute for its poll
            owner = await make_user(a)
            accepted = await accept(a, make_clip(tmp_path / "clip.mp4", seconds=1), uploader_id=owner.id)

            async def claimed() -> bool:
                return any(e.type == "job.started" and e.data["job_id"] == accepted.job.id
                           for e in worker.events.recent(200))

            await until(claimed, "the worker waited for its poll")
        finally:
            queue.cancel()
            await asyncio.gather(queue, return_exceptions=True)
