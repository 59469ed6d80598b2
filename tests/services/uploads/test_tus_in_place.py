"""tus PATCHes written in place into one data file, on both databases: the file's SHA-256 carried from
PATCH to PATCH (or recomputed after a restart) is the original's checksum, a refused PATCH leaves nothing
behind, and an upload begun with part files (an older version) finishes with them."""

from __future__ import annotations

import base64
import hashlib

from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.uploads import tusfile
from tests.services.uploads.test_tus import create, patch, upload_of
from tests.support.uploads import Account, files_under, original_bytes, random_bytes


async def original_checksum(svc: Services, video_id: int) -> str:
    files = await repos_of(svc.db).video_files.find_by_video(video_id, "original")
    return files[0].checksum


async def test_the_data_file_grows_in_place_and_becomes_the_original(svc: Services, client: TestClient,
                                                                     vip: Account) -> None:
    data = random_bytes(90_000, seed=81)
    location = (await create(client, vip, len(data))).headers["Location"]
    upload = await upload_of(svc, location)
    folder = svc.settings.uploads_dir / upload.token
    for offset in (0, 30_000):
        assert (await patch(client, vip, location, offset, data[offset:offset + 30_000])).status == 204
    assert files_under(folder) == [folder / tusfile.DATA]  # one file, no parts
    assert (folder / tusfile.DATA).read_bytes() == data[:60_000]
    wrong = base64.b64encode(hashlib.sha256(b"no").digest()).decode()
    refused = await patch(client, vip, location, 60_000, data[60_000:], **{"Upload-Checksum": f"sha256 {wrong}"})
    assert refused.status == 460
    assert (folder / tusfile.DATA).stat().st_size == 60_000  # nothing of the refused body stays
    last = await patch(client, vip, location, 60_000, data[60_000:])
    video_id = int(last.headers["X-Video-Id"])
    assert await original_bytes(svc, video_id) == data
    assert await original_checksum(svc, video_id) == hashlib.sha256(data).hexdigest()
    assert not folder.exists()


async def test_after_a_restart_the_digest_is_recomputed_from_the_file(svc: Services, client: TestClient,
                                                                      vip: Account) -> None:
    data = random_bytes(70_000, seed=82)
    location = (await create(client, vip, len(data))).headers["Location"]
    assert (await patch(client, vip, location, 0, data[:40_000])).status == 204
    svc.uploads._tus_digests.clear()  # what a restart loses
    last = await patch(client, vip, location, 40_000, data[40_000:])
    video_id = int(last.headers["X-Video-Id"])
    assert await original_bytes(svc, video_id) == data
    assert await original_checksum(svc, video_id) == hashlib.sha256(data).hexdigest()


async def test_an_upload_begun_with_part_files_finishes_with_them(svc: Services, client: TestClient,
                                                                  vip: Account) -> None:
    data = random_bytes(50_000, seed=83)
    location = (await create(client, vip, len(data))).headers["Location"]
    upload = await upload_of(svc, location)

    async def first_part() -> object:
        yield data[:20_000]

    # The first PATCH as an older version stored it: a part file and its row.
    part = await svc.uploads._receive(upload, "tus", first_part(), limit=len(data), algorithms=("sha256",))
    await svc.uploads._record(upload, 0, part, tus_offset=0)
    folder = svc.settings.uploads_dir / upload.token
    assert [p.name.split(".")[0] for p in files_under(folder)] == ["part_000000"]
    last = await patch(client, vip, location, 20_000, data[20_000:])
    assert last.status == 204, await last.text()
    video_id = int(last.headers["X-Video-Id"])
    assert await original_bytes(svc, video_id) == data
    assert await original_checksum(svc, video_id) == hashlib.sha256(data).hexdigest()
