"""The interleavings behind a rare 409 in parallel tus uploads, made to happen on purpose, on both databases.

The 409 (``offset_mismatch`` on a PATCH at the offset the previous PATCH had just answered) came from a
stale read: on SQLite every plain SELECT shares one reader connection, and a SELECT whose rows were not
fetched yet kept that connection's read transaction, and so its WAL snapshot, open while other requests'
SELECTs ran on it. A PATCH that read its upload meanwhile saw the upload as it was before the previous
PATCH committed. Under parallel uploads on a busy machine some read was nearly always in that state.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.services.container import Services
from tests.services.uploads.test_tus import create, patch, upload_of
from tests.support.uploads import Account, original_bytes, random_bytes

TUS = {"Tus-Resumable": "1.0.0"}
SLOW_READ = "SELECT id, token FROM uploads WHERE id >= :zero"  # the read another request is in the middle of


@pytest.fixture
async def paused_read(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[asyncio.Event]:
    """A read of the uploads table that another request has started and not finished: its rows reach
    their caller only once the event is set (for a cursor: between its execute and its fetch)."""
    release = asyncio.Event()
    slow_cursors: set[int] = set()
    run, fetch_all = aiosqlite.Connection._execute, aiosqlite.Cursor.fetchall

    async def recording_run(conn: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        result = await run(conn, fn, *args, **kwargs)
        if args and args[0] == SLOW_READ and isinstance(result, sqlite3.Cursor):
            slow_cursors.add(id(result))
        return result

    async def stalled_fetch_all(cursor: aiosqlite.Cursor) -> Any:
        if id(cursor._cursor) in slow_cursors:
            await release.wait()
        return await fetch_all(cursor)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", recording_run)
    monkeypatch.setattr(aiosqlite.Cursor, "fetchall", stalled_fetch_all)
    yield release
    release.set()


async def test_a_read_in_progress_elsewhere_never_makes_a_patch_see_an_old_offset(
        svc: Services, client: TestClient, vip: Account, paused_read: asyncio.Event) -> None:
    data = random_bytes(3 * 40_000, seed=71)
    location = (await create(client, vip, len(data))).headers["Location"]
    first = await patch(client, vip, location, 0, data[:40_000])
    assert first.status == 204
    # Another request's read of the uploads table starts now and is slow to finish.
    slow = asyncio.create_task(svc.db.fetch_all(SLOW_READ, {"zero": 0}))
    await asyncio.sleep(0.05)
    second = await patch(client, vip, location, 40_000, data[40_000:80_000])
    assert second.status == 204 and second.headers["Upload-Offset"] == "80000"
    # The next PATCH reads the upload while that read is still in progress: it must see 80000.
    third = await patch(client, vip, location, 80_000, data[80_000:])
    assert third.status == 204, await third.text()
    assert third.headers["Upload-Offset"] == str(len(data))
    paused_read.set()
    assert len(await slow) == 1
    assert await original_bytes(svc, int(third.headers["X-Video-Id"])) == data
    assert (await upload_of(svc, location)).status == "completed"


async def half_sent_patch(client: TestClient, svc: Services, account: Account, location: str, offset: int,
                          body: bytes, sent: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A PATCH whose first ``sent`` bytes have reached the server, its connection still open."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write((f"PATCH {location} HTTP/1.1\r\nHost: test\r\nTus-Resumable: 1.0.0\r\nX-API-Key: {account.key}\r\n"
                  f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:sent])
    await writer.drain()
    upload = await upload_of(svc, location)
    for _ in range(1000):
        if svc.uploads.inflight.bytes_in_flight(upload.id) >= sent:
            return reader, writer
        await asyncio.sleep(0.005)
    raise AssertionError("the server never read the first bytes")


async def test_a_resuming_client_supersedes_its_stalled_patch(svc: Services, client: TestClient,
                                                              vip: Account) -> None:
    data = random_bytes(100_000, seed=72)
    location = (await create(client, vip, len(data))).headers["Location"]
    reader, writer = await half_sent_patch(client, svc, vip, location, 0, data[:60_000], 25_000)
    # The client gave up on that PATCH (its connection looks alive) and resumes: HEAD gives the final
    # offset of what the stalled PATCH received, which ends.
    head = await client.head(location, headers={**TUS, **vip.headers})
    assert head.status == 200 and head.headers["Upload-Offset"] == "25000"
    assert await reader.read() == b""  # the stalled request's connection was closed, with no answer
    writer.close()
    rest = await patch(client, vip, location, 25_000, data[25_000:])
    assert rest.status == 204, await rest.text()
    assert await original_bytes(svc, int(rest.headers["X-Video-Id"])) == data


async def test_a_new_patch_supersedes_a_stalled_one(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(100_000, seed=73)
    location = (await create(client, vip, len(data))).headers["Location"]
    _, writer = await half_sent_patch(client, svc, vip, location, 0, data, 30_000)
    # A PATCH at the offset the client knew (0) now conflicts with what the stalled one kept, and says so.
    stale = await patch(client, vip, location, 0, data)
    assert stale.status == 409 and stale.headers["Upload-Offset"] == "30000"
    writer.close()
    rest = await patch(client, vip, location, 30_000, data[30_000:])
    assert rest.status == 204 and await original_bytes(svc, int(rest.headers["X-Video-Id"])) == data


async def test_the_cleanup_sweep_never_deletes_the_file_of_a_patch_in_flight(
        svc: Services, client: TestClient, vip: Account) -> None:
    """The sweep decides an upload is idle, then deletes its temp files in a thread: a PATCH that starts
    in between must keep its file (it used to fail with 500 when it renamed it into place)."""
    data = random_bytes(80_000, seed=74)
    location = (await create(client, vip, len(data))).headers["Location"]
    upload = await upload_of(svc, location)
    reader, writer = await half_sent_patch(client, svc, vip, location, 0, data, 40_000)
    assert await svc.uploads.store.remove_temp_files(upload.token) == 0  # the sweep's step, now
    writer.write(data[40_000:])
    await writer.drain()
    status = (await reader.readline()).split()[1]
    writer.close()
    assert status == b"204"
    done = await upload_of(svc, location)
    assert done.status == "completed" and await original_bytes(svc, done.video_id) == data
