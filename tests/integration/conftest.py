"""Fixtures for the end-to-end tests: tiny clips made once per session, services with a small real ladder,
an app client, and accounts. Every video here goes through the REAL pipeline (accept -> queue -> HLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.e2e import E2E_LADDER, make_sine_clip, write_subtitles
from tests.support.uploads import Account, make_account


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 320x180 test pattern with a 1 kHz tone."""
    return make_sine_clip(tmp_path_factory.mktemp("e2e-clip") / "episode01.mp4", seconds=4)


@pytest.fixture
def subtitles(tmp_path: Path) -> dict[str, Path]:
    return write_subtitles(tmp_path / "subs")


def small_pipeline(settings: Settings) -> Settings:
    settings.security.bcrypt_rounds = 4
    settings.transcode.ladder = [dict(r) for r in E2E_LADDER]
    settings.transcode.segment_seconds = 1
    settings.transcode.preset = "ultrafast"
    settings.transcode.retry_backoff_seconds = 0
    settings.transcode.nice = 0
    return settings


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    services = await build_services(small_pipeline(settings))
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture
async def client(svc: Services, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(svc))


@pytest.fixture
async def alice(svc: Services) -> Account:
    return await make_account(svc, "alice")


@pytest.fixture
async def bob(svc: Services) -> Account:
    return await make_account(svc, "bob")
