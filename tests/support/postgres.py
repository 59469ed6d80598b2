"""A throwaway PostgreSQL cluster: initdb into a temp dir, pg_ctl on a free loopback port.

initdb refuses to run as root, so under root (CI) the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise RuntimeError(f"PostgreSQL's {name} was not found on PATH or under /usr/lib/postgresql/*/bin; "
                       "install it (apt-get install postgresql) - .ci/run does")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kdrama-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    def _run(self, argv: list[str]) -> None:
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> PostgresCluster:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run([find_pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([find_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "start"])
        return self

    def stop(self) -> None:
        try:
            self._run([find_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


class PostgresReplica:
    """A hot-standby streaming replica of ``primary`` (``pg_basebackup -R``) on its own port.

    ``pause()`` stops replaying WAL (the replica falls behind while staying up), ``kill()`` stops it the
    hard way (it goes away), ``start()`` brings it back on the same port."""

    def __init__(self, primary: PostgresCluster) -> None:
        self.primary = primary
        self.root = Path(tempfile.mkdtemp(prefix="kdrama-pg-replica-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = primary.user
        self._run = primary._run
        self._cloned = False

    def start(self) -> PostgresReplica:
        if self.primary.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        if not self._cloned:
            self._run([find_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
                       "-U", self.user, "-D", str(self.data), "-R", "-X", "stream", "--no-sync"])
            self._cloned = True
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c hot_standby=on -c max_connections=200")
        self._run([find_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "start"])
        return self

    def kill(self) -> None:
        self._run([find_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def stop(self) -> None:
        try:
            self.kill()
        except RuntimeError:
            pass  # already stopped by the test
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    async def _sql(self, statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url("postgres"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def pause(self) -> None:
        await self._sql("SELECT pg_wal_replay_pause()")

    async def resume(self) -> None:
        await self._sql("SELECT pg_wal_replay_resume()")
