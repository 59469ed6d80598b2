"""``python -m kdrama_tui serve`` as a real process, for tests about processes (SIGKILL mid-write, start-up
work): started on a free port with the test's settings, stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from kdrama_tui.config import Settings
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a kdrama-tui process on ``settings``' data dir and database (no ingest, no backups)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir),
            "KDRAMA_DATABASE_URL": settings.database_url, "KDRAMA_INGEST_ENABLED": "false",
            "KDRAMA_BACKUP_ENABLED": "false", "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4", **extra}


class ServeProcess:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log, self.port = settings, log, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *args: str, **extra_env: str) -> None:
        """Start it (``args`` after ``serve``, e.g. ``--no-transcode``) and wait until /healthz answers (fails
        with the log's tail if it exits first)."""
        env = process_env(self.settings, KDRAMA_SERVER_PORT=str(self.port), **extra_env)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "kdrama_tui", "serve", *args], env=env, cwd=ROOT,
                                         stdout=log, stderr=log)
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("server did not start")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it (SIGKILL if it does not exit within 30 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: the power-cut of a process, nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
