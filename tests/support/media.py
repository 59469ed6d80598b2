"""Tiny generated clips and an accepted-video helper for media pipeline tests (real ffmpeg, a few seconds)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.library.handoff import AcceptedVideo, SubtitleSidecar
from kdrama_tui.services.library.metadata import VideoMetadata


def make_clip(path: Path, *, size: str = "320x180", seconds: float = 3, rate: str = "25", audio: bool = True,
              vcodec: str = "libx264", pix_fmt: str = "yuv420p", extra_out: list[str] | None = None,
              extra_in: list[str] | None = None, container_args: list[str] | None = None) -> Path:
    """A test-pattern clip with a tone; codec, size, rate and extras as asked."""
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    argv += list(extra_in or [])
    argv += ["-t", str(seconds), "-c:v", vcodec, "-pix_fmt", pix_fmt]
    if vcodec == "libx264":
        argv += ["-preset", "ultrafast"]
    elif vcodec == "libx265":
        argv += ["-preset", "ultrafast", "-x265-params", "log-level=error"]
    if audio:
        argv += ["-c:a", "aac"]
    argv += list(extra_out or []) + list(container_args or []) + [str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def admin_user(svc: Services, name: str = "admin") -> int:
    user = await svc.accounts.create_user(name, f"{name}@example.org", "correct horse battery", "admin")
    return user.id


async def accept(svc: Services, source: Path, *, uploader_id: int, filename: str | None = None,
                 sidecars: list[SubtitleSidecar] | None = None, title: str = "Clip", priority: int = 5,
                 move: bool = False) -> AcceptedVideo:
    return await svc.library.accept_original(
        uploader_id=uploader_id, source=source, original_filename=filename or source.name,
        metadata=VideoMetadata(title=title), sidecars=sidecars or [], move=move, priority=priority)


async def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async (or plain) predicate until it returns something truthy; fail after ``timeout``."""
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def assert_recorded_files_match_storage(svc: Services, video_id: int) -> list:
    """Every generated video_files row points at a stored object of the recorded size and SHA-256, and every
    object under videos/<id>/hls/ has a row."""
    rows = [f for f in await repos_of(svc.db).video_files.find_by_video(video_id)
            if f.file_type not in ("original", "subtitle_source")]
    for row in rows:
        path = svc.storage.local_path(row.file_path)
        assert path is not None and path.is_file(), row.file_path
        assert path.stat().st_size == row.file_size, row.file_path
        assert sha256_file(path) == row.checksum, row.file_path
        assert row.storage_provider == svc.storage.provider
    stored = set(await svc.storage.list(f"videos/{video_id}/hls/"))
    assert stored == {r.file_path for r in rows}
    return rows
