"""Helpers for the admin API and dashboard tests: a real server on a free port, and waiting on the UI."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from textual.app import App
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.worker import WorkerState

from kdrama_tui.config import Settings
from kdrama_tui.models import User
from kdrama_tui.server.app import bound_port, create_app, start_http
from kdrama_tui.services.container import Services, build_services

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A real server (services + aiohttp on loopback) with an admin and that admin's API key."""

    svc: Services
    runner: web.AppRunner
    url: str
    admin: User
    admin_key: str

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.svc.close()


async def serve(settings: Settings, *, admin: str = "root") -> Served:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    runner = await start_http(create_app(svc), "127.0.0.1", 0)
    user = await svc.accounts.create_user(admin, f"{admin}@example.com", "password123", "admin")
    key, _ = await svc.accounts.issue_api_key(user.id, "tests")
    return Served(svc, runner, f"http://127.0.0.1:{bound_port(runner)}", user, key)


@dataclass
class Recorder:
    """A ``message_hook`` that keeps what the app posted: notifications and any message class asked for."""

    messages: list[Message] = field(default_factory=list)

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    def notes(self, severity: str | None = None) -> list[str]:
        return [m.notification.message for m in self.of(Notify)
                if severity is None or m.notification.severity == severity]


LONG_LIVED_GROUPS = {"events"}  # the live stream runs for the app's whole life


async def settle(pilot: Pilot[Any], timeout: float = 15.0) -> None:
    """Wait until no short-lived worker runs and the message queues are drained, twice in a row."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        await pilot.pause()
        busy = [w for w in app.workers if w.group not in LONG_LIVED_GROUPS
                and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if any(getattr(screen, "_reload_timer", None) is not None for screen in app.screen_stack):
            quiet = 0  # an event-driven reload is about to start
            if time.monotonic() > deadline:
                raise AssertionError("a debounced reload never ran")
            await pilot.pause(0.1)
        elif busy:
            quiet = 0
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"workers still running: {busy}")
            await asyncio.wait([asyncio.ensure_future(w.wait()) for w in busy], timeout=min(remaining, 1.0))
        else:
            quiet += 1
            await pilot.pause(0.05)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause(0.05)
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")


async def connected(pilot: Pilot[Any]) -> None:
    """Wait for the dashboard to be up (connected, first load done)."""
    await wait_until(pilot, lambda: getattr(pilot.app, "connected", False), what="connection")
    await settle(pilot)


async def goto(pilot: Pilot[Any], key: str, mode: str) -> None:
    await pilot.press(key)
    await wait_until(pilot, lambda: pilot.app.current_mode == mode, what=f"section {mode}")
    await settle(pilot)


async def type_into(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Put ``text`` in an Input as typing would (the value, then the same Changed events)."""
    widget = pilot.app.screen.query_one(selector)
    # A dialog that has just opened may still move focus to its first field: insist until it sticks.
    await wait_until(pilot, lambda: widget.focus() and pilot.app.focused is widget, what=f"focus on {selector}")
    widget.value = text  # type: ignore[attr-defined]
    await pilot.pause()


def table_rows(app: App[Any], selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]  # type: ignore[attr-defined]


async def select_row(pilot: Pilot[Any], selector: str, key: str) -> None:
    table = pilot.app.screen.query_one(selector)
    table.focus()
    table.move_cursor(row=table.get_row_index(key), animate=False)  # type: ignore[attr-defined]
    await pilot.pause()


def subprocess_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KDRAMA_")}
    env.update({"PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(data_dir), "KDRAMA_SERVER_PORT": str(port),
                "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4", "KDRAMA_INGEST_ENABLED": "false",
                "KDRAMA_BACKUP_ENABLED": "false", **extra})
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    result = subprocess.run([sys.executable, "-m", "kdrama_tui", *args], env=env, input=stdin, text=True,
                            capture_output=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_http(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (a loopback test URL)
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not come up")
        time.sleep(0.1)


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


async def start_upload(http: Any, base: str, key: str, filename: str, data: bytes, chunks: int,
                       send: list[int]) -> int:
    """Open a chunked upload as the key's owner and send some of its chunks (``http``: a ClientSession with
    ``base`` the server URL, or an aiohttp TestClient with ``base`` empty); returns the upload's id."""
    import hashlib

    size = -(-len(data) // chunks)
    async with http.post(f"{base}/api/uploads", headers={"X-API-Key": key}, json={
            "filename": filename, "total_size": len(data), "total_chunks": chunks,
            "metadata": {"title": filename.rsplit(".", 1)[0]}}) as answer:
        body = await answer.json()
        assert answer.status == 201, body
    for n in send:
        part = data[n * size:(n + 1) * size]
        async with http.put(f"{base}/api/uploads/{body['id']}/chunks/{n}", data=part, headers={
                "X-API-Key": key, "X-Chunk-SHA256": hashlib.sha256(part).hexdigest()}) as answer:
            assert answer.status == 200, await answer.text()
    return int(body["id"])
