"""A disk that fills up mid-chunk (a real, tiny tmpfs mounted at uploads_dir): 507, nothing recorded, and the
same chunk goes through once space is freed."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.support.uploads import (
    chunks_of,
    create_upload,
    files_under,
    make_account,
    original_bytes,
    put_chunk,
    random_bytes,
)

TMPFS_BYTES = 5 * 1024 * 1024  # 3 MiB upload + one part of headroom for assembly + slack


@pytest.fixture
async def small_disk_services(settings: Settings) -> AsyncIterator[Services]:
    """Services whose uploads_dir is a 5 MiB tmpfs (mounting needs root, which tests and CI run as)."""
    settings.security.bcrypt_rounds = 4
    settings.uploads.free_space_margin = 0
    folder = settings.uploads_dir
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(folder)], check=True)
    try:
        svc = await build_services(settings)
        try:
            yield svc
        finally:
            await svc.close()
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


async def test_enospc_mid_chunk_is_507_and_a_retry_works(small_disk_services: Services,
                                                         aiohttp_client: Any) -> None:
    svc = small_disk_services
    client: TestClient = await aiohttp_client(create_app(svc))
    vip = await make_account(svc, "vip_uploader")
    data = random_bytes(3 * 1024 * 1024, seed=11)
    upload = await create_upload(client, vip, data, total_chunks=3)
    parts = chunks_of(data, upload["chunk_size"])
    assert (await put_chunk(client, vip, upload["id"], 0, parts[0]))[0] == 200

    # Something else eats the disk: 512 KiB free is less than the next 1 MiB chunk.
    filler = svc.settings.uploads_dir / "filler.bin"
    free = svc.uploads.store.free_bytes()
    filler.write_bytes(b"\0" * (free - 512 * 1024))
    status, body = await put_chunk(client, vip, upload["id"], 1, parts[1])
    assert status == 507 and body["error"]["code"] == "insufficient_storage"
    row = await repos_of(svc.db).uploads.get(upload["id"])
    assert row.uploaded_chunks == [0] and row.bytes_received == len(parts[0]) and row.status == "uploading"
    assert [c.chunk_number for c in await repos_of(svc.db).upload_chunks.find_by_upload(upload["id"])] == [0]
    assert [p.name.split(".")[0] for p in files_under(svc.settings.uploads_dir / row.token)] == ["part_000000"]
    assert not svc.uploads.inflight.busy(upload["id"])

    filler.unlink()
    for n in (1, 2):
        assert (await put_chunk(client, vip, upload["id"], n, parts[n]))[0] == 200
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 202, await response.text()
    assert await original_bytes(svc, (await response.json())["video_id"]) == data
