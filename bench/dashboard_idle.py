"""Idle CPU of the all-in-one process with the dashboard open, against the headless server as reference.

Both run on a temp data dir in real terminals (tmux, 120x40), are left alone for a warm-up, then their
CPU time (utime + stime from /proc/<pid>/stat) is measured over the same window. The target is < 3 % of
one core for the dashboard process.

    python bench/dashboard_idle.py [--seconds 10] [--warmup 5] [--size 120x40]
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of the full line)


def wait_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not come up")


def start(socket_name: str, command: str, env: dict[str, str], size: str) -> int:
    width, height = size.split("x")
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    subprocess.run(["tmux", "-L", socket_name, "new-session", "-d", "-s", "b", "-x", width, "-y", height,
                    f"cd {shlex.quote(str(REPO))} && exec env {assignments} {command}"], check=True)
    out = subprocess.run(["tmux", "-L", socket_name, "list-panes", "-t", "b", "-F", "#{pane_pid}"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()

    python = shlex.quote(sys.executable)
    runs = {"headless serve": f"{python} -m kdrama_tui serve", "run (dashboard open)": f"{python} -m kdrama_tui run"}
    sockets, pids, ports = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i, (name, command) in enumerate(runs.items()):
                ports[name] = free_port()
                env = {"PYTHONPATH": str(REPO), "KDRAMA_DATA_DIR": f"{tmp}/data{i}", "TERM": "tmux-256color",
                       "KDRAMA_SERVER_PORT": str(ports[name]), "HOME": os.environ.get("HOME", tmp),
                       "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
                sockets[name] = f"kdrama-bench-{os.getpid()}-{i}"
                pids[name] = start(sockets[name], command, env, args.size)
                wait_up(ports[name])
            time.sleep(args.warmup)
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        finally:
            for name in sockets:
                subprocess.run(["tmux", "-L", sockets[name], "kill-server"], capture_output=True)
    percent = {name: 100.0 * (after[name] - before[name]) / elapsed for name in pids}
    reference = percent["headless serve"]
    print(f"idle CPU over {elapsed:.1f} s ({TICKS} ticks/s, {args.size} terminal):")
    for name, value in percent.items():
        print(f"  {name:<22} {value:5.2f} % of one core")
    dashboard = percent["run (dashboard open)"]
    print(f"dashboard process minus headless reference: {dashboard - reference:+.2f} points; "
          f"target < 3 %: {'met' if dashboard < 3.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
