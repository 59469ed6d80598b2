"""Run by test_orphan_sweep in a subprocess: a real chunk upload completed through UploadService, with the
storage wrapped so that right after the original is moved into storage (before the rows are committed)
the process says ``MOVED <key>`` on stdout and waits to be killed with SIGKILL.

    python -m tests.services.maintenance.crash_handoff SOURCE_FILE   (settings from KDRAMA_* variables)
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kdrama_tui.config import load_settings
from kdrama_tui.services.container import build_services


async def main(source: Path) -> None:
    svc = await build_services(load_settings())
    storage = svc.library.storage
    real_put_file = storage.put_file

    async def put_file_then_hang(key: str, path: Path, *, move: bool = False) -> Any:
        stored = await real_put_file(key, path, move=move)
        if key.startswith("originals/"):
            print(f"MOVED {key}", flush=True)
            await asyncio.Event().wait()  # the test kills us here: stored, not committed
        return stored

    storage.put_file = put_file_then_hang  # type: ignore[method-assign]
    user = await svc.accounts.create_user("crash_uploader", "crash@example.com", "correct horse battery")
    data = source.read_bytes()
    upload = await svc.uploads.create(user, filename="Crash Landing.mkv", total_size=len(data), total_chunks=2,
                                      sha256=hashlib.sha256(data).hexdigest())
    assert upload.chunk_size is not None
    for number in range(2):
        part = data[number * upload.chunk_size:(number + 1) * upload.chunk_size]

        async def body(part: bytes = part) -> AsyncIterator[bytes]:
            yield part

        await svc.uploads.put_chunk(user, upload.id, number, body(), sha256=hashlib.sha256(part).hexdigest(),
                                    content_length=len(part))
    print(f"UPLOAD {upload.id}", flush=True)
    await svc.uploads.complete(user, upload.id)
    print("COMMITTED", flush=True)  # never reached: the test fails if it is
    await svc.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
