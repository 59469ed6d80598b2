"""Shared fixtures. Every database test runs twice: on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import Database, open_database
from tests.support.postgres import PostgresCluster
from tests.support.s3 import s3_auth_server, s3_bucket, s3_server  # noqa: F401  (shared fixtures)

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'kdrama.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return await cluster.create_database(f"t{next(_db_names)}_{abs(hash(request.node.nodeid)) % 10**8}")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a test: data under tmp_path and the parametrised database."""
    return load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data"), "KDRAMA_DATABASE_URL": database_url})
