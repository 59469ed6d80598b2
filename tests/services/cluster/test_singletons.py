"""Cluster singletons: exactly one node runs each periodic job, another takes over when it stops or dies, and
`backup restore` on PostgreSQL refuses while other nodes are connected, naming them."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import Database, open_database
from kdrama_tui.db.locks import lock_key
from kdrama_tui.errors import Conflict
from kdrama_tui.events import EventBus
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.backup.service import BackupService
from kdrama_tui.services.cluster.singletons import SINGLETONS, run_singleton
from kdrama_tui.services.container import Services
from tests.services.backup.support import fill
from tests.support.auth import running_services
from tests.support.postgres import PostgresCluster

FAST = {"retry_seconds": 0.1, "check_seconds": 0.1}


class Node:
    """One node's attempt to run the job ``name``: ``running`` is set while its job runs."""

    def __init__(self, db: Database, name: str) -> None:
        self.db, self.running, self.stopped = db, asyncio.Event(), asyncio.Event()
        self.runs = 0
        self.task = asyncio.create_task(run_singleton(db, name, self.job, node=str(id(self)), **FAST))

    async def job(self) -> None:
        self.runs += 1
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.running.clear()
            self.stopped.set()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def first_of(*events: asyncio.Event, timeout: float = 5.0) -> int:
    waits = [asyncio.create_task(e.wait()) for e in events]
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done, "no node ran the job"
    return next(i for i, w in enumerate(waits) if w in done)


_names = itertools.count(1)


@pytest.fixture
async def pg_url(postgres_cluster: PostgresCluster) -> str:
    """Cluster locks are PostgreSQL's (SQLite grants them all: see the first test)."""
    return await postgres_cluster.create_database(f"singletons_{os.getpid()}_{next(_names)}")


@pytest.fixture
async def two_pools(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    one = await open_database(pg_url, application_name="kdrama-tui serve a pid 1")
    two = await open_database(pg_url, application_name="kdrama-tui serve b pid 2")
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def test_sqlite_stats_name_the_one_node(tmp_path: Path) -> None:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data"), "KDRAMA_SERVER_NODE_NAME": "pc"})
    async with running_services(settings) as svc:
        assert (await svc.admin.stats("127.0.0.1"))["cluster"] == {"node": "pc", "processes": [], "singletons": {}}


async def test_sqlite_runs_every_job_on_its_one_machine(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        node = Node(db, "uploads.cleanup")
        await asyncio.wait_for(node.running.wait(), 5)
        await node.stop()
    finally:
        await db.close()


async def test_one_node_runs_the_job_and_another_takes_over_when_it_stops(two_pools: tuple[Database, Database]) -> None:
    a, b = Node(two_pools[0], "backup.schedule"), Node(two_pools[1], "backup.schedule")
    nodes = [a, b]
    try:
        holder = nodes[await first_of(a.running, b.running)]
        standby = nodes[1 - nodes.index(holder)]
        for _ in range(5):  # the standby keeps asking, and keeps being refused
            await asyncio.sleep(FAST["retry_seconds"])
            assert not standby.running.is_set()
        started = time.monotonic()
        await holder.stop()  # a node shut down: its lock goes with its session
        await asyncio.wait_for(standby.running.wait(), 5)
        assert time.monotonic() - started < 2
        assert (holder.runs, standby.runs) == (1, 1)
    finally:
        for node in nodes:
            await node.stop()


async def test_a_holder_whose_session_dies_stops_the_job_and_the_other_takes_over(
        postgres_cluster: PostgresCluster, two_pools: tuple[Database, Database]) -> None:
    """What the database sees when a node's machine vanishes: the lock's session ends."""
    a, b = Node(two_pools[0], "storage.orphans"), Node(two_pools[1], "storage.orphans")
    nodes = [a, b]
    try:
        holder = nodes[await first_of(a.running, b.running)]
        standby = nodes[1 - nodes.index(holder)]
        key = lock_key("storage.orphans")
        admin = await open_database(postgres_cluster.url(), migrate=False)
        try:
            killed = await admin.fetch_value(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = (:key::bigint & x'ffffffffffffffff'::bigint)",
                {"key": key})
        finally:
            await admin.close()
        assert killed == 1
        await asyncio.wait_for(holder.stopped.wait(), 5)  # it noticed, and stopped its copy of the job
        await first_of(holder.running, standby.running)  # and the job runs again, on one node (either)
        await asyncio.sleep(0.5)
        assert holder.running.is_set() != standby.running.is_set()
        assert holder.runs + standby.runs == 2
    finally:
        for node in nodes:
            await node.stop()


def _node(tmp_path: Path, database_url: str, name: str) -> Settings:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / name), "KDRAMA_DATABASE_URL": database_url,
                                  "KDRAMA_SERVER_NODE_NAME": name, "KDRAMA_BACKUP_ENABLED": "true",
                                  "KDRAMA_SECURITY_MASTER_KEY": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="})
    settings.backup_dir.mkdir(parents=True)
    old = "2020-01-01T00:00:00+00:00"  # the daily backup is due on both nodes
    (settings.backup_dir / ".schedule.json").write_text(json.dumps({"daily": old, "weekly": old}))
    return settings


async def test_a_due_backup_runs_once_across_nodes_and_the_schedule_moves_when_its_node_stops(
        tmp_path: Path, pg_url: str) -> None:
    one, two = _node(tmp_path, pg_url, "one"), _node(tmp_path, pg_url, "two")
    async with running_services(one) as a, running_services(two) as b:
        finished: list[str] = []
        taken: dict[str, asyncio.Event] = {"one": asyncio.Event(), "two": asyncio.Event()}

        async def watch(svc: Services, node: str) -> None:
            async for event in svc.events.stream():
                if event.type == "backup.finished":
                    finished.append(node)
                if event.type == "cluster.singleton_taken" and event.data["job"] == "backup.schedule":
                    taken[node].set()

        watchers = [asyncio.create_task(watch(a, "one")), asyncio.create_task(watch(b, "two"))]
        for svc in (a, b):
            svc.singleton_retry_seconds = 0.2
            await svc.start_background(web=False, queue=False, ingest=False, schedules=True)
        first = ["one", "two"][await first_of(*taken.values())]
        holder, other = (a, b) if first == "one" else (b, a)
        deadline = time.monotonic() + 30
        while not finished and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # five of the standby's attempts
        assert finished == [first]
        backups = [p.name for s in (one, two) for p in s.backup_dir.glob("kdrama-backup-*")]
        assert len(backups) == 1
        # Every other singleton went to one node too, each on its own lock.
        names = set(SINGLETONS)
        held = await holder.db.fetch_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        assert held == len(names)
        # The dashboard's figures say who is connected and who runs what.
        cluster = (await other.admin.stats("127.0.0.1"))["cluster"]
        assert cluster["node"] == ("two" if first == "one" else "one")
        assert {(p["role"], p["node"]) for p in cluster["processes"]} == {("cli", "one"), ("cli", "two")}
        assert set(cluster["singletons"]) == set(SINGLETONS) and cluster["singletons"]["backup.schedule"] == first
        assert set(cluster["singletons"].values()) <= {"one", "two"}  # each job on one node (not always the same)
        await holder.close()
        await asyncio.wait_for(taken["two" if first == "one" else "one"].wait(), 5)
        for w in watchers:
            w.cancel()
        assert other is not None


async def test_restore_refuses_while_other_nodes_are_connected_and_names_them(tmp_path: Path, pg_url: str) -> None:
    database_url = pg_url
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data"), "KDRAMA_DATABASE_URL": pg_url})
    db = await open_database(database_url)
    try:
        await fill(db)
    finally:
        await db.close()
    service = BackupService(settings, EventBus())
    result = await service.run_backup()
    service.application_name = "kdrama-tui serve web-a pid 11"  # the node running the restore itself
    own = await open_database(database_url, application_name=service.application_name)
    other = await open_database(database_url, application_name="kdrama-tui worker gpu-1 pid 42")
    try:
        with pytest.raises(Conflict) as refused:
            await service.restore(result.local.name, from_server=True)
        assert refused.value.code == "nodes_connected"
        assert "(worker gpu-1 pid 42)" in refused.value.message and "web-a" not in refused.value.message
    finally:
        await other.close()
    try:
        restored = await service.restore(result.local.name, from_server=True)  # only this node is left
        assert restored.dialect == "postgresql"
    finally:
        await own.close()


async def test_a_shared_watch_folder_is_watched_by_one_node_at_a_time(tmp_path: Path, pg_url: str) -> None:
    watch = tmp_path / "nas" / "watch"
    nodes = []
    for name in ("one", "two"):
        settings = _node(tmp_path, pg_url, name)
        settings.backup.enabled = False
        settings.ingest.watch_dirs = [str(watch)]
        settings.ingest.shared = True
        nodes.append(settings)
    async with running_services(nodes[0]) as a, running_services(nodes[1]) as b:
        for svc in (a, b):
            svc.singleton_retry_seconds = 0.2
            await svc.start_background(web=False, queue=False, ingest=True, schedules=False)

        async def holder() -> str | None:
            return await repos_of(a.db).cluster_sessions.lock_holder("ingest.watch")

        deadline = time.monotonic() + 10
        while await holder() is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        first = await holder()
        await asyncio.sleep(1.0)  # five of the other node's attempts
        taken = [svc for svc in (a, b) if any(e.type == "cluster.singleton_taken" and e.data["job"] == "ingest.watch"
                                              for e in svc.events.recent(200))]
        assert len(taken) == 1 and await holder() == first
        survivor = b if taken[0] is a else a
        await taken[0].close()
        deadline = time.monotonic() + 5
        while (now := await repos_of(survivor.db).cluster_sessions.lock_holder("ingest.watch")) in (None, first):
            assert time.monotonic() < deadline, "the other node did not take the watch folder over"
            await asyncio.sleep(0.05)
        assert now is not None and f" {survivor.settings.node_name} " in now
