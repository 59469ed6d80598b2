"""Running ffmpeg: always an argv list (never a shell), at low priority, killable, with progress.

ffmpeg runs in its own process group so a cancel kills it and anything it started. Its ``-progress pipe:1``
output is parsed into a 0..1 fraction. Should this process die (SIGKILL), ffmpeg's next progress write hits a
closed pipe and SIGPIPE ends it, so no orphan keeps transcoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence

from kdrama_tui.media.errors import FFmpegError

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20


def _lower_priority(pid: int, nice: int) -> None:
    if nice:
        with contextlib.suppress(OSError):  # the process may already be gone; priority is best effort
            os.setpriority(os.PRIO_PROCESS, pid, nice)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def run_capture(argv: Sequence[str], *, time_limit: float = 120.0, nice: int = 0) -> tuple[int, bytes, bytes]:
    """Run a short command (probe, extraction); returns (exit code, stdout, stderr). Killed on timeout."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    _lower_priority(proc.pid, nice)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        await _kill(proc)
        raise FFmpegError(f"{os.path.basename(argv[0])} did not finish within {time_limit:.0f} s") from None
    except BaseException:  # cancelled: never leave the child running
        await _kill(proc)
        raise
    return proc.returncode or 0, out, err


def _progress_fraction(values: dict[str, str], duration: float) -> float | None:
    if values.get("progress") == "end":
        return 1.0
    raw = values.get("out_time_us") or values.get("out_time_ms")  # both are microseconds in ffmpeg
    if not raw or not raw.lstrip("-").isdigit() or duration <= 0:
        return None
    return max(0.0, min(1.0, int(raw) / 1e6 / duration))


async def run_ffmpeg(argv: Sequence[str], *, duration: float, nice: int = 0, time_limit: float | None = None,
                     on_progress: Callable[[float], None] | None = None) -> None:
    """Run an ffmpeg command that has ``-progress pipe:1``; raise FFmpegError with the stderr tail on failure."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    _lower_priority(proc.pid, nice)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    async def read_progress() -> None:
        assert proc.stdout is not None
        block: dict[str, str] = {}
        async for raw in proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            block[key] = value
            if key == "progress":  # one report ends with progress=continue|end
                fraction = _progress_fraction(block, duration)
                if fraction is not None and on_progress is not None:
                    on_progress(fraction)
                block = {}

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)

    readers = asyncio.gather(read_progress(), read_stderr())
    try:
        await asyncio.wait_for(asyncio.shield(readers), time_limit)
        code = await proc.wait()
    except TimeoutError:
        await _kill(proc)
        readers.cancel()
        raise FFmpegError(f"ffmpeg ran longer than its limit of {time_limit:.0f} s and was stopped",
                          list(tail)) from None
    except BaseException:
        await _kill(proc)
        readers.cancel()
        with contextlib.suppress(BaseException):
            await readers
        raise
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise FFmpegError(f"ffmpeg {how}", list(tail))
