"""Parallel tus uploads under stress, on both databases: several rounds of uploads at once, connections
dropped mid-PATCH and resumed at once (HEAD, then PATCH from the offset it gives), the cleanup sweep
running all the while. Every answer must be one a well-behaved client expects (201, 200, 204; a rare
409 offset mismatch right after a resume is resynced with HEAD and counted), and every upload must end as a
video with exactly its bytes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter

from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from tests.services.uploads.test_tus import b64, upload_of
from tests.support.uploads import Account, original_bytes, random_bytes

TUS = {"Tus-Resumable": "1.0.0"}
ROUNDS, PARALLEL, SIZE, PATCH_SIZE = 3, 4, 1_200_000, 100_000


async def dropped_patch(client: TestClient, svc: Services, account: Account, location: str, offset: int,
                        body: bytes) -> None:
    """Send a PATCH's headers and part of its body, wait until the server is reading it, then reset."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = (f"PATCH {location} HTTP/1.1\r\nHost: test\r\nTus-Resumable: 1.0.0\r\nX-API-Key: {account.key}\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(head.encode() + body[: len(body) // 2])
    await writer.drain()
    upload = await upload_of(svc, location)
    for _ in range(6000):
        if svc.uploads.inflight.bytes_in_flight(upload.id) > 0:
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the server never started reading the PATCH")
    writer.transport.abort()  # RST: the connection is gone mid-body
    del reader


async def one_upload(client: TestClient, svc: Services, account: Account, data: bytes, *, drops: set[int],
                     statuses: Counter[str]) -> int:
    """A stock tus client's behaviour: create, PATCH from the offset the server last gave; after a dropped
    connection, HEAD for the offset and go on. Returns the video id."""
    auth = {**TUS, **account.headers}
    created = await client.post("/api/tus/", headers={**auth, "Upload-Length": str(len(data)),
                                                      "Upload-Metadata": f"filename {b64('stress.mkv')},flag"})
    statuses[f"POST {created.status}"] += 1
    assert created.status == 201, await created.text()
    location = created.headers["Location"]
    offset, number, video_id = 0, 0, None
    while video_id is None:
        body = data[offset:offset + PATCH_SIZE]
        if number in drops:
            drops.discard(number)
            await dropped_patch(client, svc, account, location, offset, body)
            head = await client.head(location, headers=auth)
            statuses[f"HEAD {head.status}"] += 1
            assert head.status == 200
            offset = int(head.headers["Upload-Offset"])
            continue
        response = await client.patch(location, data=body, headers={
            **auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        statuses[f"PATCH {response.status}"] += 1
        if response.status == 409 and (await response.json())["error"]["code"] == "offset_mismatch":
            # What a stock client does with it: HEAD, and go on from the server's offset. Counted, and
            # allowed at most once per round below: under heavy load a PATCH right after a resume can still
            # find the offset moved by the one it superseded.
            head = await client.head(location, headers=auth)
            statuses[f"HEAD {head.status}"] += 1
            offset = int(head.headers["Upload-Offset"])
            continue
        if response.status != 204:
            raise AssertionError(f"PATCH at {offset}: {response.status} {await response.text()}")
        offset = int(response.headers["Upload-Offset"])
        number += 1
        if "X-Video-Id" in response.headers:
            video_id = int(response.headers["X-Video-Id"])
    assert offset == len(data)
    return video_id


async def test_parallel_uploads_with_drops_and_resumes_get_only_expected_answers(
        svc: Services, client: TestClient, vip: Account) -> None:
    rng = random.Random(7)
    statuses: Counter[str] = Counter()
    stop = asyncio.Event()

    async def sweeping() -> None:  # the cleanup task, far more often than in production
        while not stop.is_set():
            await svc.uploads.sweep()
            await asyncio.sleep(0.01)

    sweeper = asyncio.create_task(sweeping())
    try:
        for round_number in range(ROUNDS):
            payloads = [random_bytes(SIZE + 7919 * i, seed=100 * round_number + i) for i in range(PARALLEL)]
            drops = [set(rng.sample(range(1, 10), 2)) if i % 2 == 0 else set() for i in range(PARALLEL)]
            video_ids = await asyncio.gather(*(one_upload(client, svc, vip, data, drops=d, statuses=statuses)
                                               for data, d in zip(payloads, drops, strict=True)))
            for video_id, data in zip(video_ids, payloads, strict=True):
                assert await original_bytes(svc, video_id) == data
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    resyncs = statuses.pop("PATCH 409", 0)
    assert set(statuses) == {"POST 201", "PATCH 204", "HEAD 200"}, statuses
    assert resyncs <= ROUNDS, f"{resyncs} offset mismatches after resumes"
    assert statuses["HEAD 200"] == ROUNDS * (PARALLEL // 2) * 2 + resyncs
    assert await repos_of(svc.db).videos.count() == ROUNDS * PARALLEL
    assert {u.status for u in await repos_of(svc.db).uploads.list()} == {"completed"}
