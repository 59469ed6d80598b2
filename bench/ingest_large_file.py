"""How long the ingester takes to import one large file, as a ratio of hashing that file once.

Importing reads the file twice on local storage (the ingester's SHA-256 for duplicate detection, then the
storage's own checksum while it renames the file into place), plus an ffprobe of the header and a few
small transactions, so the expected ratio is a little over 2. Usage:

    /work/main/.venv/bin/python bench/ingest_large_file.py [SIZE_MIB]   (default 1024)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdrama_tui.config import load_settings
from kdrama_tui.services.container import build_services


def make_large_video(path: Path, size_mib: int) -> None:
    """A real Matroska header and stream, then padding up to the size (ffprobe reads only the start)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180:duration=2",
                    "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)
    block = os.urandom(8 << 20)
    with path.open("ab") as f:
        while f.tell() < size_mib << 20:
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


def sha256_once(path: Path) -> float:
    start = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return time.perf_counter() - start


async def main(size_mib: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="kdrama-bench-", dir="/var/tmp"))
    try:
        settings = load_settings(env={"KDRAMA_DATA_DIR": str(root / "data")})
        settings.security.bcrypt_rounds = 4
        svc = await build_services(settings)
        try:
            source = root / "data" / "watch" / "Large (2020).mkv"
            source.parent.mkdir(parents=True)
            make_large_video(source, size_mib)
            reference = min(sha256_once(source) for _ in range(3))  # warm cache, best of three
            start = time.perf_counter()
            outcome = await svc.ingester.importer.import_file(source, root=source.parent)
            took = time.perf_counter() - start
            assert outcome.status == "ingested", outcome
        finally:
            await svc.close()
        print(f"file {size_mib} MiB: sha256 once {reference:.2f} s ({size_mib / reference:.0f} MiB/s); "
              f"ingest {took:.2f} s ({size_mib / took:.0f} MiB/s); ratio ingest/sha256 = {took / reference:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024))
