"""The attached console survives a server restart: live updates pause, resume, and nothing is missed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
from textual.widgets import RichLog

from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.client import AdminClient
from tests.support.console import REPO_ROOT, Recorder, connected, free_port, run_cli, subprocess_env, wait_http
from tests.support.console import wait_until as wait_ui


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kdrama_tui", "serve"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=30)


async def test_live_updates_resume_after_a_server_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = subprocess_env(tmp_path / "data", port)
    run_cli(env, "user", "create", "--username", "boss", "--email", "boss@example.com", "--role", "admin",
            "--password-stdin", stdin="password123\n")
    key = run_cli(env, "apikey", "issue", "--user", "boss").strip().splitlines()[-1]
    server = _start(env)
    recorder = Recorder()
    try:
        wait_http(f"{url}/healthz")
        app = KdramaApp(AdminClient(url, api_key=key))
        async with app.run_test(size=(100, 30), message_hook=recorder, notifications=True) as pilot:
            await connected(pilot)
            for name in ("first", "second", "third"):  # the old process's event ids run to 3
                await _create(url, key, name)
            await wait_ui(pilot, lambda: app._last_event_id >= 3, what="events of the first process")
            _stop(server)
            await wait_ui(pilot, lambda: any("live updates paused" in n for n in recorder.notes("warning")),
                          what="paused notice")
            server = _start(env)
            wait_http(f"{url}/healthz")
            await wait_ui(pilot, lambda: "live updates resumed" in recorder.notes(), timeout=40, what="resumed")
            user_id = await _create(url, key, "after")
            log = pilot.app.screen.query_one("#events", RichLog)
            # The new process numbers its events from 1 again; the console must not skip them as old.
            await wait_ui(pilot, lambda: any(f"user_id={user_id}" in line.text for line in log.lines),
                          what="an event from the restarted server")
            assert len([n for n in recorder.notes("warning") if "paused" in n]) == 1  # one notice, not one a retry
    finally:
        _stop(server)


async def _create(url: str, key: str, name: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/admin/users", headers={"X-API-Key": key},
            json={"username": name, "email": f"{name}@example.com", "password": "password123"}) as answer:
        assert answer.status == 201
        return int((await answer.json())["id"])
