"""Issue 15's cluster on this machine: two real `serve` processes (one `--no-transcode`) and one `worker`, each
with its own data folder, on one real PostgreSQL and one S3 bucket (moto), behind a real nginx round-robin
upstream. A clip imported through node A is transcoded by a worker, plays through nginx with requests spread
over both nodes, a private token from A plays on B, a privacy change through A is refused by B within 2 s, and
exactly one node runs the backup schedule until it is killed and the other takes over."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db.locks import lock_key
from tests.support.auth import PASSWORD, cli
from tests.support.e2e import E2E_LADDER
from tests.support.nginx import Nginx, free_port
from tests.support.postgres import PostgresCluster
from tests.support.s3 import S3Bucket
from tests.support.serve import ROOT, ServeProcess, process_env

pytestmark = [pytest.mark.slow]

MASTER = base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Cluster:
    a: ServeProcess
    b: ServeProcess
    worker: subprocess.Popen[bytes]
    nginx: Nginx
    env: dict[str, str]  # what a CLI on node A's data folder needs
    database_url: str
    logs: Path
    key: str = ""  # an admin's API key

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def _node(tmp_path: Path, url: str, name: str) -> Settings:
    return load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / name), "KDRAMA_DATABASE_URL": url})


def _shared(s3_bucket: S3Bucket, name: str) -> dict[str, str]:
    """The same environment file on every node: secrets, storage, a small ladder; only the name differs."""
    return {**s3_bucket.env(), "KDRAMA_SECURITY_MASTER_KEY": MASTER, "KDRAMA_SERVER_NODE_NAME": name,
            "KDRAMA_TRANSCODE_LADDER": json.dumps(E2E_LADDER), "KDRAMA_TRANSCODE_SEGMENT_SECONDS": "1",
            "KDRAMA_TRANSCODE_PRESET": "ultrafast", "KDRAMA_TRANSCODE_NICE": "0", "KDRAMA_BACKUP_ENABLED": "true",
            "KDRAMA_TRANSCODE_POLL_SECONDS": "0.5", "KDRAMA_SECURITY_TRUSTED_PROXIES": "127.0.0.1"}


def _upstream(*ports: int) -> str:
    servers = " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in ports)
    return f"upstream kdrama {{ {servers} }}"


LOAD_BALANCER = """
        location / {
            proxy_pass http://kdrama;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            add_header X-Upstream $upstream_addr always;
        }
"""


@pytest.fixture
async def cluster(postgres_cluster: PostgresCluster, s3_bucket: S3Bucket, tmp_path: Path) -> AsyncIterator[Cluster]:
    url = await postgres_cluster.create_database(f"cluster_{os.getpid()}")
    a = ServeProcess(_node(tmp_path, url, "web-a"), tmp_path / "web-a.log")
    b = ServeProcess(_node(tmp_path, url, "web-b"), tmp_path / "web-b.log")
    await a.start("--no-transcode", **_shared(s3_bucket, "web-a"))
    await b.start(**_shared(s3_bucket, "web-b"))
    worker_settings = _node(tmp_path, url, "worker-1")
    with (tmp_path / "worker.log").open("ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "kdrama_tui", "worker"], cwd=ROOT, stdout=log, stderr=log,
                                  env=process_env(worker_settings, **_shared(s3_bucket, "worker-1")))
    port = free_port()
    try:
        with Nginx(LOAD_BALANCER, port, http_block=_upstream(a.port, b.port)) as nginx:
            env = process_env(a.settings, **_shared(s3_bucket, "cli"))
            yield Cluster(a, b, worker, nginx, env, url, tmp_path)
    finally:
        for node in (a, b):
            node.stop()
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(cli(*args), env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _lock_holders(url: str, name: str) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND ((l.classid::bigint << 32) | l.objid::bigint) = "
            "($1::bigint & x'ffffffffffffffff'::bigint)", lock_key(name))
    finally:
        await conn.close()
    return [r["application_name"] for r in rows]


async def _eventually(check, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_two_web_nodes_and_a_worker_behind_nginx(cluster: Cluster, clip_file: Path) -> None:
    c = cluster
    run_cli(c.env, "user", "create", "--username", "admin", "--email", "admin@example.com", "--role", "admin",
            "--password-stdin", stdin=PASSWORD + "\n")
    c.key = run_cli(c.env, "apikey", "issue", "--user", "admin").strip().splitlines()[-1]
    imported = run_cli(c.env, "ingest", str(clip_file), "--copy")
    video_id = int(imported.split(" -> video ", 1)[1].split()[0])

    async with aiohttp.ClientSession() as http:
        async def ready() -> bool:
            async with http.get(f"{c.nginx.url}/api/videos/{video_id}", headers=c.headers) as response:
                return response.status == 200 and (await response.json())["status"] == "ready"

        await _eventually(ready, 120, "the worker did not transcode the clip")
        # The --no-transcode node never ran ffmpeg: the job was claimed by the worker or by node B.
        claims = {name: (c.logs / f"{name}.log").read_text().count(f"(video {video_id}, attempt 1) claimed by")
                  for name in ("web-a", "web-b", "worker")}
        assert claims["web-a"] == 0 and claims["web-b"] + claims["worker"] == 1, claims
        # Plays through nginx, every request spread over both nodes.
        upstreams = set()
        for path in ("master.m3u8", "180p/index.m3u8", "180p/init.mp4", "180p/seg_00001.m4s", "144p/index.m3u8",
                     "144p/seg_00001.m4s"):
            async with http.get(f"{c.nginx.url}/hls/{video_id}/{path}") as response:
                assert response.status == 200, path
                await response.read()
                upstreams.add(response.headers["X-Upstream"])
        assert upstreams == {f"127.0.0.1:{c.a.port}", f"127.0.0.1:{c.b.port}"}

        # B has the video cached as public; made private through A, B refuses it within 2 s.
        async with http.get(f"{c.b.url}/hls/{video_id}/180p/seg_00001.m4s") as response:
            assert response.status == 200
        async with http.patch(f"{c.a.url}/api/videos/{video_id}", json={"is_public": False},
                              headers=c.headers) as response:
            assert response.status == 200, await response.text()

        async def refused_by_b() -> bool:
            async with http.get(f"{c.b.url}/hls/{video_id}/180p/seg_00001.m4s") as response:
                return response.status == 401

        assert await _eventually(refused_by_b, 2.0, "B still serves the now-private video") < 2.0

        # A private token issued by A plays on B: the master playlist and a segment it names.
        async with http.get(f"{c.a.url}/api/videos/{video_id}/playback", headers=c.headers) as response:
            token = (await response.json())["token"]
        async with http.get(f"{c.b.url}/hls/{video_id}/master.m3u8", params={"token": token}) as response:
            assert response.status == 200 and f"token={token}" in await response.text()
        async with http.get(f"{c.b.url}/hls/{video_id}/180p/seg_00001.m4s", params={"token": token}) as response:
            assert response.status == 200

    # Exactly one web node runs the backup schedule (never the worker); killing it hands it to the other.
    holders = await _lock_holders(c.database_url, "backup.schedule")
    assert len(holders) == 1 and (" web-a " in holders[0] or " web-b " in holders[0]), holders
    holder = c.a if " web-a " in holders[0] else c.b
    holder.kill()
    standby_name = " web-b " if holder is c.a else " web-a "

    async def taken_over() -> bool:
        found = await _lock_holders(c.database_url, "backup.schedule")
        return len(found) == 1 and standby_name in found[0]

    await _eventually(taken_over, 60, "the other node did not take the backup schedule over")
    async with aiohttp.ClientSession() as http, http.get(f"{c.nginx.url}/healthz") as response:
        assert response.status == 200  # nginx sends everything to the survivor


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tests.support.e2e import make_sine_clip

    yield make_sine_clip(tmp_path_factory.mktemp("cluster-clip") / "Hometown Cha-Cha-Cha (2021).mp4", seconds=3)
