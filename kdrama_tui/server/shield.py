"""Let work that writes durable state finish even if aiohttp cancels the handler (client gone).

With ``handler_cancellation`` on, a dropped connection cancels the handler mid-await. A part being
received must still settle cleanly (tus keeps what arrived; the chunk API discards it), and an assembly
must not be cut off halfway, so such calls run as their own task that the handler merely waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_running: set[asyncio.Task[Any]] = set()  # strong references: a task nobody holds may be collected


async def run_to_end(work: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return await asyncio.shield(task)
