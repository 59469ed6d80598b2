"""The tus rows of bench/upload.py: one stock-behaving tus client (aiohttp: POST, then PATCHes of 8 MiB
from the offset the server last gave, no Upload-Checksum) against kdrama-tui and the official tus Node
server (@tus/server + FileStore, bench/tus_node_server.mjs), sequentially and several uploads at once.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

MiB = 1024 * 1024
PATCH_SIZE = 8 * MiB


async def tus_upload(session: aiohttp.ClientSession, endpoint: str, headers: dict[str, str], fd: int,
                     start: int, size: int) -> float:
    """One upload of ``size`` bytes of the file from ``start``; returns the seconds of its last PATCH
    (for kdrama-tui that includes assembling the file and handing it to the library)."""
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    metadata = "filename " + base64.b64encode(b"bench.mkv").decode()
    async with session.post(endpoint, headers={**tus, "Upload-Length": str(size), "Upload-Metadata": metadata}) as r:
        if r.status != 201:
            raise RuntimeError(f"tus create: {r.status} {await r.text()}")
        location = urljoin(endpoint, r.headers["Location"])
    offset, last = 0, 0.0
    while offset < size:
        body = await asyncio.to_thread(os.pread, fd, min(PATCH_SIZE, size - offset), start + offset)
        began = time.perf_counter()
        async with session.patch(location, data=body, headers={
                **tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}) as r:
            if r.status != 204:
                raise RuntimeError(f"tus PATCH at {offset}: {r.status} {await r.text()}")
            offset = int(r.headers["Upload-Offset"])
        last = time.perf_counter() - began
    return last


async def tus_run(endpoint: str, headers: dict[str, str], source: Path, size: int, parallel: int
                  ) -> tuple[float, float]:
    """(MB/s from the first POST to the last answer, median seconds of the final PATCHes) for ``size``
    bytes in total, as ``parallel`` uploads of size/parallel at once."""
    fd = os.open(source, os.O_RDONLY)
    each = size // parallel
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            began = time.perf_counter()
            finals = await asyncio.gather(*(tus_upload(session, endpoint, headers, fd, i * each, each)
                                            for i in range(parallel)))
            seconds = time.perf_counter() - began
    finally:
        os.close(fd)
    return size / seconds / 1e6, sorted(finals)[len(finals) // 2]
