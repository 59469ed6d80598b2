"""Roles of a cluster's processes: web nodes without ffmpeg or the transcode queue, workers that only transcode,
and the PostgreSQL pool settings a PgBouncer in front needs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.db import open_database
from kdrama_tui.server.host import Host, Roles
from tests.support.postgres import PostgresCluster, free_port
from tests.support.serve import ROOT, ServeProcess, process_env


async def test_serve_without_transcode_ingest_or_background_runs_only_the_web_parts(settings: Settings) -> None:
    settings.backup.enabled = True
    settings.security.bcrypt_rounds = 4
    settings.server.port = 0
    full = Host(settings, Roles(queue=False, ingest=False, schedules=False))
    await full.start()
    try:
        assert full.services is not None
        tasks = full.services.background_tasks
        assert "media.queue" not in tasks and "ingest.watch" not in tasks
        assert not {"backup.schedule", "uploads.cleanup", "storage.orphans", "sessions.cleanup"} & set(tasks)
        assert {"playback.invalidation", "media.relay"} <= set(tasks)  # it still serves and follows workers
    finally:
        await full.stop()


async def test_a_web_node_starts_on_a_machine_without_ffmpeg(tmp_path: Path, settings: Settings) -> None:
    """--no-transcode --no-ingest needs no ffmpeg (its config may name the workers' ffmpeg_path); without the
    flags the same node refuses to start with one line naming the setting."""
    missing = str(tmp_path / "no-such-ffmpeg")
    refused = subprocess.run([sys.executable, "-m", "kdrama_tui", "serve"], cwd=ROOT, capture_output=True, text=True,
                             env=process_env(settings, KDRAMA_TRANSCODE_FFMPEG_PATH=missing,
                                             KDRAMA_SERVER_PORT=str(free_port())), timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == \
        f"kdrama-tui: transcode.ffmpeg_path: {missing} is not an executable file"

    web = ServeProcess(settings, tmp_path / "web.log")
    await web.start("--no-transcode", "--no-ingest", KDRAMA_TRANSCODE_FFMPEG_PATH=missing)
    try:
        async with aiohttp.ClientSession() as http, http.get(web.url + "/healthz") as response:
            assert response.status == 200
        deadline = time.monotonic() + 30  # the start-up line follows the first answers by a moment
        while "serving on" not in web.log.read_text():
            assert time.monotonic() < deadline, web.log.read_text()
            await asyncio.sleep(0.05)
        assert "no transcode, no ingest" in web.log.read_text()
    finally:
        web.stop()
    assert web.proc is not None and web.proc.returncode == 0


async def test_worker_connects_as_a_worker_and_runs_no_web_parts(settings: Settings) -> None:
    host = Host(settings, Roles.foreground("worker"))
    await host.start()
    try:
        assert host.services is not None and host.services.background_tasks == []
        assert host.runner is None  # no HTTP
    finally:
        await host.stop()


async def _sessions(cluster: PostgresCluster, database: str, name: str) -> int:
    db = await open_database(cluster.url(), migrate=False)
    try:
        return int(await db.fetch_value(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND application_name = :n",
            {"d": database, "n": name}))
    finally:
        await db.close()


async def test_pool_size_application_name_and_statement_cache(postgres_cluster: PostgresCluster) -> None:
    url = await postgres_cluster.create_database("roles_pool")
    name = "kdrama-tui serve web-a pid 1"
    db = await open_database(url, pool_size=2, statement_cache_size=0, application_name=name)
    try:
        await asyncio.gather(*(db.fetch_value("SELECT pg_sleep(0.2)") for _ in range(5)))
        assert 1 <= await _sessions(postgres_cluster, "roles_pool", name) <= 2  # the pool never grew past 2
        # With the cache off (PgBouncer in transaction mode) no named statement stays on the server.
        async with db.transaction() as tx:
            for _ in range(3):
                await tx.fetch_value("SELECT count(*) FROM users WHERE id = :id", {"id": 1})
            assert await tx.fetch_value("SELECT count(*) FROM pg_prepared_statements") == 0
    finally:
        await db.close()
    cached = await open_database(url, pool_size=1, statement_cache_size=100, migrate=False)
    try:
        async with cached.transaction() as tx:
            for _ in range(3):
                await tx.fetch_value("SELECT count(*) FROM users WHERE id = :id", {"id": 1})
            assert await tx.fetch_value("SELECT count(*) FROM pg_prepared_statements") >= 1
    finally:
        await cached.close()


@pytest.mark.parametrize("setting", ["KDRAMA_DATABASE_STATEMENT_CACHE_SIZE", "KDRAMA_DATABASE_POOL_SIZE"])
def test_pool_settings_are_checked(setting: str) -> None:
    from kdrama_tui.config import load_settings
    from kdrama_tui.errors import ConfigError

    with pytest.raises(ConfigError, match=setting[len("KDRAMA_"):].lower().replace("_", ".", 1)):
        load_settings(env={setting: "-1"})
