"""Dashboard tests run the real app against a real server (temp database, free port) in the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from textual.pilot import Pilot

from kdrama_tui.config import Settings
from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.client import AdminClient
from tests.support.console import Recorder, Served, connected, serve


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    server = await serve(settings)
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def dashboard(served: Served, recorder: Recorder
              ) -> Callable[..., AbstractAsyncContextManager[Pilot[Any]]]:
    """``async with dashboard() as pilot``: the app attached to ``served`` as its admin, connected."""

    @asynccontextmanager
    async def open_app(size: tuple[int, int] = (120, 40), api_key: str | None = None
                       ) -> AsyncIterator[Pilot[Any]]:
        app = KdramaApp(AdminClient(served.url, api_key=api_key or served.admin_key))
        async with app.run_test(size=size, message_hook=recorder, notifications=True) as pilot:
            await connected(pilot)
            yield pilot

    return open_app
