"""End to end in a real terminal (tmux): the all-in-one process, and the console attached to a server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.console import REPO_ROOT, free_port, port_closed, run_cli, subprocess_env, wait_http
from tests.support.tmux import Tmux

KEY = re.compile(r"kd_[A-Za-z0-9_\-]{43}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    terminal = Tmux(tmp_path, 120, 40)
    try:
        yield terminal
    finally:
        terminal.close()


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"X-API-Key": key})  # noqa: S310 (loopback test URL)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_all_in_one_issue_a_key_through_the_ui_and_quit(tmp_path: Path, tmux: Tmux) -> None:
    port = free_port()
    env = subprocess_env(tmp_path / "data", port)
    run_cli(env, "user", "create", "--username", "boss", "--email", "boss@example.com", "--role", "admin",
            "--password-stdin", stdin="password123\n")

    tmux.start([sys.executable, "-m", "kdrama_tui"], env, REPO_ROOT)
    screen = tmux.wait_for(f"http://127.0.0.1:{port}")
    assert "Recent events" in screen and "Traceback" not in screen

    tmux.send("6")
    tmux.wait_for("i Issue")
    tmux.send("i")
    tmux.wait_for("Issue an API key")
    tmux.send("Enter")  # open the account list
    tmux.wait_for("boss (admin)")
    tmux.send("Down", "Enter", "Tab")
    tmux.type("e2e")
    tmux.send("Enter", "Enter")  # name -> expiry -> submit
    screen = tmux.wait_for("New API key for boss")
    found = KEY.search(screen)
    assert found, screen
    key = found.group(0)

    assert _get(f"http://127.0.0.1:{port}/api/admin/stats", key) == 200  # the key works against the server
    assert _get(f"http://127.0.0.1:{port}/api/admin/stats", key[:-1] + "x") == 401

    tmux.send("Enter")  # Done
    tmux.wait_for("e2e")  # the new key is listed (by prefix)
    assert key not in tmux.capture()
    tmux.send("q")
    tmux.wait_for("Quit and stop serving")
    tmux.send("q")  # q q: quit and stop serving
    assert tmux.exit_code() == 0
    assert port_closed(port)  # the server went with the process


def test_all_in_one_q_asks_and_serves_until_confirmed(tmp_path: Path, tmux: Tmux) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmux.start([sys.executable, "-m", "kdrama_tui"], subprocess_env(tmp_path / "data", port), REPO_ROOT)
    tmux.wait_for(url)
    tmux.send("q")
    screen = tmux.wait_for("Quit and stop serving (q)")
    assert "0 viewers watching, 0 uploads and 0 transcodes in progress." in screen
    wait_http(f"{url}/healthz", timeout=2)  # the dialog is up and the server still answers
    tmux.send("Escape")  # cancel
    tmux.wait_for("Recent events")
    assert "Quit and stop serving" not in tmux.capture()
    wait_http(f"{url}/healthz", timeout=2)
    tmux.send("q")
    tmux.wait_for("Quit and stop serving (q)")
    wait_http(f"{url}/healthz", timeout=2)
    tmux.send("Enter")  # enter on the default button (cancel) keeps serving too
    tmux.wait_for("Recent events")
    wait_http(f"{url}/healthz", timeout=2)
    tmux.send("q")
    tmux.wait_for("Quit and stop serving (q)")
    tmux.send("q")
    assert tmux.exit_code() == 0
    assert port_closed(port)


def test_all_in_one_stops_cleanly_on_sigterm_and_sighup(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        port = free_port()
        terminal = Tmux(tmp_path, 100, 30)
        try:
            terminal.start([sys.executable, "-m", "kdrama_tui"], subprocess_env(tmp_path / "data", port), REPO_ROOT)
            terminal.wait_for("Recent events")
            wait_http(f"http://127.0.0.1:{port}/healthz")
            pid = next(p for p in _children(terminal.pane_pid()) if "kdrama_tui" in _cmdline(p))
            os.kill(pid, sig)
            assert terminal.exit_code() == 0, sig
            assert port_closed(port)
            assert "Traceback" not in terminal.capture()
        finally:
            terminal.close()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_console_attached_to_a_server_leaves_it_running(tmp_path: Path, tmux: Tmux) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = subprocess_env(tmp_path / "data", port)
    run_cli(env, "user", "create", "--username", "boss", "--email", "boss@example.com", "--role", "admin",
            "--password-stdin", stdin="password123\n")
    key = run_cli(env, "apikey", "issue", "--user", "boss").strip().splitlines()[-1]
    server = subprocess.Popen([sys.executable, "-m", "kdrama_tui", "serve"], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"{url}/healthz")
        tmux.start([sys.executable, "-m", "kdrama_tui", "console", "--url", url], {**env, "KDRAMA_API_KEY": key},
                   REPO_ROOT)
        tmux.wait_for("Recent events")
        tmux.wait_for(url)

        # A change made by someone else arrives live, through the server's event stream.
        body = json.dumps({"username": "newbie", "email": "newbie@example.com", "password": "password123"})
        request = urllib.request.Request(f"{url}/api/admin/users", data=body.encode(), method="POST",  # noqa: S310
                                         headers={"X-API-Key": key, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.status == 201
        tmux.wait_for("user.created")

        tmux.send("q")
        assert tmux.exit_code() == 0
        assert _get(f"{url}/healthz", key) == 200  # quitting the console left the server serving
        assert server.poll() is None
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_console_with_a_bad_url_exits_with_one_line(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path / "data", free_port())
    result = subprocess.run([sys.executable, "-m", "kdrama_tui", "console", "--url", "ftp://x"], env=env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "kdrama-tui: --url must start with http:// or https:// (got 'ftp://x')"


def test_run_with_the_port_taken_exits_with_one_line(tmp_path: Path, tmux: Tmux) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        tmux.start([sys.executable, "-m", "kdrama_tui", "run"], subprocess_env(tmp_path / "data", port), REPO_ROOT)
        assert tmux.exit_code() == 1
    screen = tmux.capture()  # what the admin sees once the dashboard has given the terminal back
    assert (f"kdrama-tui: cannot listen on 127.0.0.1:{port}: address already in use "
            "(is another kdrama-tui running? set KDRAMA_SERVER_PORT)") in screen
    assert "Traceback" not in screen


def test_all_in_one_restore_restarts_on_the_restored_database(tmp_path: Path, tmux: Tmux) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = subprocess_env(tmp_path / "data", port)
    run_cli(env, "user", "create", "--username", "boss", "--email", "boss@example.com", "--role", "admin",
            "--password-stdin", stdin="password123\n")
    key = run_cli(env, "apikey", "issue", "--user", "boss").strip().splitlines()[-1]
    tmux.start([sys.executable, "-m", "kdrama_tui"], env, REPO_ROOT)
    tmux.wait_for(url)
    tmux.send("8")
    tmux.wait_for("Back up now")
    tmux.send("b")
    tmux.wait_for("done: kdrama-backup-", timeout=60)
    body = json.dumps({"username": "later", "email": "later@example.com", "password": "password123"})
    request = urllib.request.Request(f"{url}/api/admin/users", data=body.encode(), method="POST",  # noqa: S310
                                     headers={"X-API-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert response.status == 201
    tmux.wait_for(".tar  local  backup")  # listed
    tmux.send("R")
    tmux.wait_for("Restore the database from")
    tmux.send("y")
    tmux.wait_for("Recent events", timeout=60)  # the process started again, on the dashboard
    wait_http(f"{url}/healthz")
    users = urllib.request.Request(f"{url}/api/admin/users", headers={"X-API-Key": key})  # noqa: S310
    with urllib.request.urlopen(users, timeout=5) as response:  # noqa: S310
        names = [u["username"] for u in json.loads(response.read())["items"]]
    assert names == ["boss"]  # "later" came after the backup
    tmux.send("q")
    tmux.wait_for("Quit and stop serving")
    tmux.send("q")
    assert tmux.exit_code() == 0
    assert port_closed(port)
