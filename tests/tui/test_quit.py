"""`q` all in one asks first (naming who would be cut off); attached to a server elsewhere it quits at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from textual.widgets import Button, Label

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.server.host import Host, Roles
from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.screens.quit import QuitModal, activity_line, detach_command
from tests.support.console import Served, connected, start_upload, wait_until


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data"), "KDRAMA_INGEST_ENABLED": "false",
                                  "KDRAMA_BACKUP_ENABLED": "false", "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4"})
    settings.server.port = 0
    return settings


def _all_in_one(settings: Settings) -> KdramaApp:
    return KdramaApp(system=Host(settings, Roles(queue=False, schedules=False, ingest=False)))


async def _healthz(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as answer:
        return answer.status


async def test_all_in_one_q_asks_naming_viewers_and_uploads_and_cancel_keeps_serving(
        local_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("STY", raising=False)
    app = _all_in_one(local_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        host = app.system
        assert isinstance(host, Host) and host.services is not None
        url = app.client.base_url
        admin = await host.services.accounts.create_user("boss", "boss@example.com", "password123", "admin")
        key, _ = await host.services.accounts.issue_api_key(admin.id)
        async with aiohttp.ClientSession() as http:
            await start_upload(http, url, key, "Our Blues E07.mkv", b"x" * 4000, 4, [0])
        for address in ("10.0.0.5", "10.0.0.6"):  # two players fetching segments of video 1
            host.services.playback.audience.seen(address, 1)

        await pilot.press("q")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, QuitModal) and app.screen, what="dialog")
        text = str(modal.query_one("#activity", Label).render())
        assert text == "2 viewers watching, 1 upload and 0 transcodes in progress."
        assert not modal.query("#detach")  # no tmux or screen: nothing to detach from
        assert app.focused is modal.query_one("#cancel", Button)  # enter on the default keeps serving
        assert await _healthz(url) == 200

        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, QuitModal), what="dialog closed")
        assert app.return_code is None and await _healthz(url) == 200

        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal), what="dialog again")
        await pilot.press("q")  # q q: quit and stop serving
        await wait_until(pilot, lambda: app.return_code is not None, what="exit")
    assert host.runner is None  # the server stopped with the dashboard


async def test_detach_is_offered_inside_tmux_and_keeps_the_app_running(
        local_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    fake = tmp_path / "bin" / "tmux"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {ran}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = _all_in_one(local_settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal) and app.screen.query("#detach"),
                         what="dialog with detach")
        await pilot.press("d")
        await wait_until(pilot, lambda: ran.exists(), what="tmux detach-client")
        assert ran.read_text().split() == ["detach-client"]
        assert not isinstance(app.screen, QuitModal) and app.return_code is None
        assert await _healthz(app.client.base_url) == 200  # still serving, dashboard still there to reattach


async def test_console_q_quits_at_once(served: Served) -> None:
    from kdrama_tui.tui.client import AdminClient

    app = KdramaApp(AdminClient(served.url, api_key=served.admin_key))
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, what="exit")
    assert await _healthz(served.url) == 200


def test_activity_line_counts_and_unknown() -> None:
    stats: dict[str, Any] = {"viewers": {"active": 1}, "uploads": {"active": 3},
                             "jobs": {"by_status": {"processing": 2}}}
    assert activity_line(stats) == "1 viewer watching, 3 uploads and 2 transcodes in progress."
    assert "may be active" in activity_line(None)
    assert detach_command({}) is None
