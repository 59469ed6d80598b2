"""A real PostgreSQL streaming replica (``pg_basebackup -R``) behind ``[database] read_url``.

Anonymous catalog, series and playback lookups read from the replica while it keeps up; a replica that
falls behind (replay paused) or goes away (killed) is skipped without an error; a change (a video made
private) is refused at once although the replica has not replayed it. The feature is PostgreSQL's alone
(a SQLite database.url with read_url is refused); on SQLite ``Database.reads`` is the database itself.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kdrama_tui.config import load_settings
from kdrama_tui.db import open_database
from kdrama_tui.errors import ConfigError
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.hls import install_video
from tests.support.media import wait_until
from tests.support.postgres import PostgresCluster, PostgresReplica
from tests.support.world import hls_source  # noqa: F401  (fixture)

_names = itertools.count(1)
MAX_LAG = 1.0


@pytest.fixture(scope="module")
def primary() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()  # its own: a replica copies a whole cluster
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def replica(primary: PostgresCluster) -> Iterator[PostgresReplica]:
    standby = PostgresReplica(primary).start()
    try:
        yield standby
    finally:
        standby.stop()


@pytest.fixture
async def svc(primary: PostgresCluster, replica: PostgresReplica, tmp_path: Path) -> AsyncIterator[Services]:
    name = f"r{next(_names)}"
    url = await primary.create_database(name)
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data"), "KDRAMA_DATABASE_URL": url,
                                  "KDRAMA_DATABASE_READ_URL": replica.url(name),
                                  "KDRAMA_DATABASE_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG)})
    settings.security.bcrypt_rounds = 4
    await wait_until(lambda: _exists_on(replica, name), timeout=15.0)
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()
        await replica.resume()


async def _exists_on(replica: PostgresReplica, name: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(replica.url(name))
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def _caught_up(svc: Services) -> None:
    """Wait until the replica has replayed everything written so far, and the lag check finds it usable
    (no change holding reads on the primary)."""
    reads = svc.db.replica  # type: ignore[attr-defined]
    written = await svc.db.fetch_value("SELECT pg_current_wal_lsn()")

    async def replayed() -> bool:
        try:
            return bool(await reads._connect() and await reads._pool.fetchval(
                "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", written))
        except OSError:
            return False

    await wait_until(replayed)
    await wait_until(lambda: reads.replica_in_use)


async def _admin(svc: Services) -> Any:
    return await svc.accounts.create_user("admin", "admin@example.com", "correct horse battery", "admin")


async def test_anonymous_catalog_and_series_reads_come_from_the_replica(
        svc: Services, hls_source: Path, aiohttp_client: Callable[..., Any]) -> None:  # noqa: F811
    admin = await _admin(svc)
    video = await install_video(svc, hls_source, owner_id=admin.id, title="Crash Landing on You")
    client = await aiohttp_client(create_app(svc))
    await _caught_up(svc)
    stats = svc.db.replica.stats  # type: ignore[attr-defined]
    before = stats["replica"]
    response = await client.get("/api/videos")
    assert response.status == 200
    assert [v["id"] for v in (await response.json())["items"]] == [video.id]
    assert (await client.get("/api/series")).status == 200
    assert stats["replica"] > before, "the anonymous catalog was read from the primary"
    # A signed-in user reads its own writes: the primary answers.
    key, _ = await svc.accounts.issue_api_key(admin.id)
    on_replica = stats["replica"]
    mine = await client.get("/api/videos", headers={"X-API-Key": key})
    assert [v["id"] for v in (await mine.json())["items"]] == [video.id]
    assert stats["replica"] == on_replica, "a signed-in user's catalog was read from the replica"


async def test_a_replica_that_falls_behind_is_skipped_and_used_again_when_it_catches_up(
        svc: Services, replica: PostgresReplica, hls_source: Path) -> None:  # noqa: F811
    admin = await _admin(svc)
    await _caught_up(svc)
    await replica.pause()
    # The primary moves on; the paused replica does not replay it.
    late = await install_video(svc, hls_source, owner_id=admin.id, title="Hometown Cha-Cha-Cha")
    reads = svc.db.replica  # type: ignore[attr-defined]
    await wait_until(lambda: not reads.replica_in_use)
    assert reads.lag_seconds > MAX_LAG
    from kdrama_tui.services.catalog.service import ANONYMOUS

    found = await svc.catalog.search(ANONYMOUS)
    assert late.id in [v["id"] for v in found["items"]], "a lagging replica answered"
    await replica.resume()
    await _caught_up(svc)
    before = reads.stats["replica"]
    found = await svc.catalog.search(ANONYMOUS)
    assert late.id in [v["id"] for v in found["items"]]
    assert reads.stats["replica"] > before


async def test_a_replica_that_goes_away_is_never_a_5xx(
        svc: Services, replica: PostgresReplica, hls_source: Path,  # noqa: F811
        aiohttp_client: Callable[..., Any]) -> None:
    admin = await _admin(svc)
    video = await install_video(svc, hls_source, owner_id=admin.id)
    client = await aiohttp_client(create_app(svc))
    await _caught_up(svc)
    replica.kill()
    try:
        # At once, before any lag check has noticed: the failed query falls back to the primary.
        for path in ("/api/videos", "/api/series", f"/hls/{video.id}/master.m3u8", "/"):
            response = await client.get(path)
            assert response.status == 200, (path, response.status, await response.text())
        reads = svc.db.replica  # type: ignore[attr-defined]
        await wait_until(lambda: reads.lag_seconds == float("inf"))
        assert not reads.replica_in_use
        assert (await client.get("/api/videos")).status == 200
    finally:
        replica.start()
    await _caught_up(svc)


async def test_a_video_made_private_is_refused_at_once_though_the_replica_lags(
        svc: Services, replica: PostgresReplica, hls_source: Path,  # noqa: F811
        aiohttp_client: Callable[..., Any]) -> None:
    admin = await _admin(svc)
    video = await install_video(svc, hls_source, owner_id=admin.id)
    await svc.start_background(queue=False, ingest=False, schedules=False)
    client = await aiohttp_client(create_app(svc))
    key, _ = await svc.accounts.issue_api_key(admin.id)
    await _caught_up(svc)
    assert (await client.get(f"/hls/{video.id}/master.m3u8")).status == 200  # cached from the replica
    await replica.pause()
    response = await client.patch(f"/api/videos/{video.id}", json={"is_public": False},
                                  headers={"X-API-Key": key})
    assert response.status == 200
    # The replica still says public; the change event keeps lookups on the primary until it has replayed.
    await wait_until(lambda: not svc.db.replica.replica_in_use)  # type: ignore[attr-defined]
    assert (await client.get(f"/hls/{video.id}/master.m3u8")).status in (401, 403)
    listed = await (await client.get("/api/videos")).json()
    assert video.id not in [v["id"] for v in listed["items"]]


async def test_read_url_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="read_url"):
        await open_database(f"sqlite:///{tmp_path / 'k.db'}", read_url="postgresql://127.0.0.1:1/x")
