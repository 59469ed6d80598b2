"""Helpers for the ingest tests: tiny real clips, waiting for conditions, services with a fast watcher."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.events import Event
from kdrama_tui.services.container import Services, build_services

REPO_ROOT = Path(__file__).resolve().parents[2]
_clip_cache: dict[tuple[Any, ...], Path] = {}


def make_clip(target: Path, *, tone: int = 440, size: str = "160x90", seconds: float = 1.0,
              container_args: tuple[str, ...] = ()) -> Path:
    """A real little video (test pattern + tone); the same arguments give the same bytes (cached)."""
    container = target.suffix if target.suffix in (".mp4", ".mkv", ".mov", ".ts") else ".mkv"
    key = (tone, size, seconds, container_args, container)
    cached = _clip_cache.get(key)
    if cached is None or not cached.exists():
        cache_dir = Path(__file__).resolve().parents[2] / ".pytest_cache" / "ingest-clips"
        cache_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        cached = cache_dir / f"clip-{name}{container}"
        partial = cache_dir / f"partial-{name}-{os.getpid()}{container}"
        subprocess.run([
            "ffmpeg", "-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            "-map_metadata", "-1", "-fflags", "+bitexact", *container_args, str(partial)],
            check=True, timeout=120)
        os.replace(partial, cached)  # parallel test sessions may share the cache
        _clip_cache[key] = cached
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    return target


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def wait_until(condition: Callable[[], Awaitable[Any]], timeout: float = 30.0, step: float = 0.1,
                     message: str = "condition") -> Any:
    """Poll an async condition until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(step)


def fast_settings(settings: Settings, quiet: float = 0.3) -> Settings:
    settings.security.bcrypt_rounds = 4
    settings.ingest.quiet_seconds = quiet
    return settings


async def start_watching(settings: Settings) -> Services:
    """Services with only the watcher running (no transcode queue), once its start-up scan is done."""
    svc = await build_services(settings)
    await svc.start_background(queue=False, ingest=True, schedules=False)
    await asyncio.wait_for(svc.ingester.ready.wait(), 30)
    return svc


def events(svc: Services, kind: str) -> list[Event]:
    return [e for e in svc.events.recent(limit=10_000, prefix=kind)]


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir),
        "KDRAMA_DATABASE_URL": settings.database_url, "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4",
    })
    return env


def run_cli(settings: Settings, *args: str, timeout: float = 300, user: str | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "kdrama_tui", *args]
    if user is not None:  # drop root's privileges (setpriv is in util-linux)
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    env = cli_env(settings)
    env.update(extra_env or {})
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
