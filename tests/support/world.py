"""Fixtures for the streaming, catalog and page tests: a real app on the parametrised database, accounts, HLS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.models import User, Video
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.hls import build_hls, install_video


@pytest.fixture(scope="session")
def hls_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ffmpeg-made HLS folder per test session; each test stores its own copy."""
    return build_hls(tmp_path_factory.mktemp("hls") / "out")


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


@dataclass
class Account:
    user: User
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@dataclass
class World:
    svc: Services
    client: TestClient
    admin: Account
    alice: Account
    bob: Account
    hls_source: Path

    async def video(self, owner: Account | None = None, **kw: Any) -> Video:
        return await install_video(self.svc, self.hls_source, owner_id=(owner or self.alice).user.id, **kw)


async def _account(svc: Services, name: str, role: str = "user") -> Account:
    user = await svc.accounts.create_user(name, f"{name}@example.com", "correct horse battery", role)
    key, _ = await svc.accounts.issue_api_key(user.id)
    return Account(user, key)


@pytest.fixture
async def world(svc: Services, aiohttp_client: Callable[..., Any], hls_source: Path) -> World:
    await svc.start_background(queue=False, ingest=False, schedules=False)
    client = await aiohttp_client(create_app(svc))
    return World(svc, client, await _account(svc, "admin", "admin"), await _account(svc, "alice"),
                 await _account(svc, "bob"), hls_source)
