"""Recent log records kept in memory, so dashboards (in this process or attached over HTTP) can tail them.

One handler per process, installed on the root logger by ``run`` and ``serve``. Records may come from any
thread (``asyncio.to_thread`` work logs too), so the ring buffer is guarded by a lock and live subscribers
are fed through their own loop with ``call_soon_threadsafe``. A subscriber that falls behind loses its
oldest records rather than slowing down the code that logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

_FORMATTER = logging.Formatter()
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def level_number(name: str) -> int:
    """``"warning"`` -> 30; unknown names raise ValueError."""
    upper = (name or "").upper()
    if upper not in LEVELS:
        raise ValueError(f"unknown log level {name!r} (use {', '.join(LEVELS)})")
    return int(logging.getLevelName(upper))


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(size)

    def offer(self, record: dict[str, Any]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(record)


class LogBuffer(logging.Handler):
    def __init__(self, capacity: int = 2000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._subscribers: set[_Subscriber] = set()
        self._ids = itertools.count(1)
        self._guard = threading.RLock()
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False):  # a record logged while handling one: never loop
            return
        self._local.busy = True
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message += "\n" + _FORMATTER.formatException(record.exc_info)
            with self._guard:
                item = {"id": next(self._ids), "ts": record.created, "level": record.levelname,
                        "levelno": record.levelno, "logger": record.name, "message": message}
                self._records.append(item)
                subscribers = list(self._subscribers)
            for sub in subscribers:
                with contextlib.suppress(RuntimeError):  # that subscriber's loop is closed
                    sub.loop.call_soon_threadsafe(sub.offer, item)
        except Exception:
            self.handleError(record)
        finally:
            self._local.busy = False

    def recent(self, limit: int = 200, min_level: int = logging.NOTSET, after: int = 0) -> list[dict[str, Any]]:
        with self._guard:
            items = [r for r in self._records if r["levelno"] >= min_level and r["id"] > after]
        return items[-limit:] if limit > 0 else []

    @contextlib.contextmanager
    def subscription(self, size: int = 1000) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        sub = _Subscriber(asyncio.get_running_loop(), size)
        with self._guard:
            self._subscribers.add(sub)
        try:
            yield sub.queue
        finally:
            with self._guard:
                self._subscribers.discard(sub)


_installed: LogBuffer | None = None
_install_lock = threading.Lock()


def get_buffer() -> LogBuffer:
    """This process's buffer, attached to the root logger on first use."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = LogBuffer()
            logging.getLogger().addHandler(_installed)
        return _installed


def configure_logging(*, to_stderr: bool, level: int = logging.INFO) -> LogBuffer:
    """Root logging for a server process: always into the buffer, onto stderr only when asked.

    The all-in-one command passes ``to_stderr=False``: anything written to the terminal would land on
    top of the dashboard, so records only reach the dashboard's log view.
    """
    root = logging.getLogger()
    buffer = get_buffer()
    for handler in list(root.handlers):
        if handler is not buffer:
            root.removeHandler(handler)
    if to_stderr:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn() would otherwise print onto the terminal
    return buffer
