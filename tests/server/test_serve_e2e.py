"""The real thing: ``python -m kdrama_tui serve`` in a subprocess, driven by the CLI and HTTP, on both databases."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kdrama_tui.config import Settings
from kdrama_tui.server.app import create_app
from tests.support.auth import PASSWORD, cli, cli_env, free_port, running_services


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), env=env, input=stdin, capture_output=True, text=True, timeout=120)


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        server = subprocess.Popen(cli("serve"), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


async def wait_healthy(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"server exited with {server.returncode}:\n{log.read_text()}")
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"server did not become healthy:\n{log.read_text()}")


def route_table(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        path = route.resource.canonical
        if isinstance(route.resource, web.StaticResource):
            path += "/{filename}"
        routes.add((path, route.method.lower()))
    return routes


async def test_cli_and_server_end_to_end(tmp_path: Path, database_url: str, settings: Settings) -> None:
    port = free_port()
    env = cli_env(settings.data_dir, database_url, KDRAMA_SERVER_PORT=str(port))
    created = run_cli(env, "user", "create", "--username", "alice", "--email", "alice@example.com",
                      "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    issued = run_cli(env, "apikey", "issue", "--user", "alice", "--name", "e2e")
    assert issued.returncode == 0, issued.stderr
    api_key = issued.stdout.strip().splitlines()[-1]
    assert api_key.startswith("kd_") and len(api_key) > 40

    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with serving(env, log) as server:
        await wait_healthy(base, server, log)
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as response:
                assert response.status == 200
            async with http.post(base + "/api/auth/login",
                                 json={"username": "alice", "password": PASSWORD}) as response:
                assert response.status == 200
                tokens = await response.json()
            async with http.get(base + "/api/me",
                                headers={"Authorization": f"Bearer {tokens['access_token']}"}) as response:
                assert response.status == 200
                me = await response.json()
                assert me["username"] == "alice" and me["auth_method"] == "jwt"
            async with http.get(base + "/api/me", headers={"X-API-Key": api_key}) as response:
                assert response.status == 200
                assert (await response.json())["auth_method"] == "api_key"
            async with http.get(base + "/api/me", headers={"X-API-Key": api_key + "x"}) as response:
                assert response.status == 401
            async with http.get(base + "/api/openapi.json") as response:
                assert response.status == 200
                document: dict[str, Any] = await response.json()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()

    documented = {(path, method) for path, methods in document["paths"].items() for method in methods}
    async with running_services(settings) as svc:
        assert documented == route_table(create_app(svc))
    assert ("/api/auth/login", "post") in documented and ("/api/me", "get") in documented


async def test_serve_refuses_a_swapped_master_key_until_keys_are_rotated(tmp_path: Path, database_url: str,
                                                                        settings: Settings) -> None:
    port = free_port()
    env = cli_env(settings.data_dir, database_url, KDRAMA_SERVER_PORT=str(port))
    assert run_cli(env, "user", "create", "--username", "alice", "--email", "a@example.com", "--password-stdin",
                   stdin=PASSWORD + "\n").returncode == 0
    rotated = run_cli(env, "signing-key", "rotate", "--user", "alice")  # creates alice's first pair
    assert rotated.returncode == 0, rotated.stderr
    (settings.data_dir / "master.key").unlink()  # lost: the next start generates a different one

    refused = subprocess.run(cli("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    last_line = refused.stderr.strip().splitlines()[-1]
    assert last_line.startswith("kdrama-tui: security.master_key_file: ") and "signing-key rotate" in last_line
    assert "Traceback" not in refused.stderr

    recovered = run_cli(env, "signing-key", "rotate", "--all")
    assert recovered.returncode == 0 and "rotated 1 signing key pair" in recovered.stdout
    log = tmp_path / "serve.log"
    with serving(env, log) as server:
        await wait_healthy(f"http://127.0.0.1:{port}", server, log)
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/api/auth/login",
                json={"email": "a@example.com", "password": PASSWORD}) as response:
            assert response.status == 200


async def test_cli_failures_are_one_line(settings: Settings, database_url: str) -> None:
    env = cli_env(settings.data_dir, database_url)
    cases = [
        (("apikey", "issue", "--user", "nobody"), None),
        (("signing-key", "rotate", "--user", "nobody"), None),
        (("user", "create", "--username", "x", "--email", "bad", "--password-stdin"), PASSWORD + "\n"),
        (("user", "create", "--username", "bob", "--email", "b@example.com", "--password-stdin"), "short\n"),
    ]
    for args, stdin in cases:
        result = run_cli(env, *args, stdin=stdin)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("kdrama-tui: "), \
            (args, result.stderr)
