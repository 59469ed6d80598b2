"""Every bad input of the chunk API gets a clear ``{"error": {"code", "message"}}`` and keeps nothing."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.uploads import UploadService
from tests.support.uploads import (
    Account,
    chunks_of,
    create_upload,
    files_under,
    original_bytes,
    put_chunk,
    random_bytes,
    sha256,
    upload_all,
)


def error_of(body: dict[str, Any]) -> str:
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]["code"]


async def nothing_kept(svc: Services, upload_id: int) -> None:
    """No chunk row, no verified bytes, and no file (temp or final) in the session's folder."""
    row = await repos_of(svc.db).uploads.get(upload_id)
    assert row.uploaded_chunks == [] and row.bytes_received == 0
    assert await repos_of(svc.db).upload_chunks.find_by_upload(upload_id) == []
    assert files_under(svc.settings.uploads_dir / row.token) == []


async def post(client: TestClient, account: Account | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/api/uploads", json=body, headers=account.headers if account else {})
    return response.status, await response.json()


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"total_size": 10, "total_chunks": 1}, 400, "invalid_filename"),
    ({"filename": "", "total_size": 10, "total_chunks": 1}, 400, "invalid_filename"),
    ({"filename": 7, "total_size": 10, "total_chunks": 1}, 400, "invalid_filename"),
    ({"filename": "a.mkv", "total_size": 0, "total_chunks": 1}, 400, "invalid_size"),
    ({"filename": "a.mkv", "total_size": -5, "total_chunks": 1}, 400, "invalid_size"),
    ({"filename": "a.mkv", "total_size": "10", "total_chunks": 1}, 400, "invalid_size"),
    ({"filename": "a.mkv", "total_size": True, "total_chunks": 1}, 400, "invalid_size"),
    ({"filename": "a.mkv", "total_size": 1e3, "total_chunks": 1}, 400, "invalid_size"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 0}, 400, "invalid_chunks"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 11}, 400, "invalid_chunks"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 6}, 400, "invalid_chunks"),  # last chunk empty
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 10001}, 400, "invalid_chunks"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 1, "metadata": {"year": 3000}}, 400, "invalid_metadata"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 1, "metadata": ["x"]}, 400, "invalid_metadata"),
    ({"filename": "a.mkv", "total_size": 10, "total_chunks": 1, "sha256": "xyz"}, 400, "invalid_checksum"),
])
async def test_bad_session_fields(svc: Services, client: TestClient, vip: Account, body: dict[str, Any],
                                  status: int, code: str) -> None:
    got_status, got = await post(client, vip, body)
    assert (got_status, error_of(got)) == (status, code)
    assert await repos_of(svc.db).uploads.count() == 0 and files_under(svc.settings.uploads_dir) == []


async def test_malformed_json_and_non_object(client: TestClient, vip: Account) -> None:
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = await client.post("/api/uploads", data=raw, headers=vip.headers)
        assert response.status == 400 and error_of(await response.json()) == "invalid_json"


async def test_size_limits_answer_413_at_creation(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.max_size = 1000
    svc.settings.uploads.max_chunk_size = 100
    status, body = await post(client, vip, {"filename": "a.mkv", "total_size": 1001, "total_chunks": 20})
    assert (status, error_of(body)) == (413, "upload_too_large")
    status, body = await post(client, vip, {"filename": "a.mkv", "total_size": 1000, "total_chunks": 9})
    assert (status, error_of(body)) == (413, "chunk_too_large")
    assert "at least 10 chunks" in body["error"]["message"]
    status, _ = await post(client, vip, {"filename": "a.mkv", "total_size": 1000, "total_chunks": 10})
    assert status == 201


async def test_chunk_over_max_chunk_size_is_413(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(4000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    svc.settings.uploads.max_chunk_size = 1000  # lowered after the session was opened
    status, body = await put_chunk(client, vip, upload["id"], 0, data[:2000])
    assert (status, error_of(body)) == (413, "chunk_too_large")
    await nothing_kept(svc, upload["id"])


async def test_not_enough_disk_space_is_507_before_any_byte(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.free_space_margin = 1 << 60  # more than any disk has
    status, body = await post(client, vip, {"filename": "a.mkv", "total_size": 1000, "total_chunks": 1})
    assert (status, error_of(body)) == (507, "insufficient_storage")
    assert await repos_of(svc.db).uploads.count() == 0 and files_under(svc.settings.uploads_dir) == []


async def test_unfinished_uploads_reserve_their_space(svc: Services, client: TestClient, vip: Account) -> None:
    free = svc.uploads.store.free_bytes()
    svc.settings.uploads.max_size = 1 << 62
    svc.settings.uploads.max_chunk_size = 1 << 62
    svc.settings.uploads.free_space_margin = 0
    status, _ = await post(client, vip, {"filename": "a.mkv", "total_size": free * 2 // 3, "total_chunks": 1})
    assert status == 201
    status, body = await post(client, vip, {"filename": "b.mkv", "total_size": free * 2 // 3, "total_chunks": 1})
    assert (status, error_of(body)) == (507, "insufficient_storage")


@pytest.mark.parametrize("number", ["-1", "n", "abc", "1e309", "1.0", "0x1", "99999999999", "٣", "%20"])
async def test_bad_chunk_numbers(svc: Services, client: TestClient, vip: Account, number: str) -> None:
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    status, body = await put_chunk(client, vip, upload["id"], number, data)
    assert (status, error_of(body)) == (400, "invalid_chunk_number")
    await nothing_kept(svc, upload["id"])


async def test_chunk_number_out_of_range(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    status, body = await put_chunk(client, vip, upload["id"], 2, data[:500])
    assert (status, error_of(body)) == (400, "chunk_out_of_range")
    await nothing_kept(svc, upload["id"])


async def test_wrong_body_lengths(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(3000)
    upload = await create_upload(client, vip, data, total_chunks=3)
    parts = chunks_of(data, 1000)
    cases = [parts[0][:999], parts[0] + b"x", parts[2][:-1], b""]
    for body in cases:
        status, got = await put_chunk(client, vip, upload["id"], 0 if body is not cases[2] else 2, body)
        assert (status, error_of(got)) == (400, "chunk_size_mismatch"), len(body)

    async def streamed(payload: bytes) -> Any:  # no Content-Length: the length is only known at the end
        for i in range(0, len(payload), 300):
            yield payload[i:i + 300]

    for payload in (parts[0] + b"extra", parts[0][:700]):
        response = await client.put(f"/api/uploads/{upload['id']}/chunks/0", data=streamed(payload),
                                    headers={**vip.headers, "X-Chunk-SHA256": sha256(payload)})
        assert response.status == 400 and error_of(await response.json()) == "chunk_size_mismatch"
    await nothing_kept(svc, upload["id"])


async def test_checksum_mismatch_keeps_nothing_then_a_correct_resend_works(
        svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    parts = chunks_of(data, 1000)
    status, body = await put_chunk(client, vip, upload["id"], 0, parts[0], checksum=sha256(b"other"))
    assert (status, error_of(body)) == (422, "checksum_mismatch")
    await nothing_kept(svc, upload["id"])
    assert (await put_chunk(client, vip, upload["id"], 0, parts[0]))[0] == 200


@pytest.mark.parametrize(("header", "code"), [
    (None, "checksum_required"), ("", "checksum_required"), ("xyz", "invalid_checksum"),
    ("a" * 63, "invalid_checksum"), ("a" * 65, "invalid_checksum"), ("g" * 64, "invalid_checksum"),
    ("sha256=" + "a" * 64, "invalid_checksum"),
])
async def test_malformed_checksum_header(svc: Services, client: TestClient, vip: Account, header: str | None,
                                         code: str) -> None:
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    headers = dict(vip.headers)
    if header is not None:
        headers["X-Chunk-SHA256"] = header
    response = await client.put(f"/api/uploads/{upload['id']}/chunks/0", data=data, headers=headers)
    assert response.status == 400 and error_of(await response.json()) == code
    await nothing_kept(svc, upload["id"])


async def test_unknown_or_someone_elses_upload_is_404(svc: Services, client: TestClient, vip: Account,
                                                      other: Account) -> None:
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    uid = upload["id"]
    for account, upload_id in ((vip, 98765), (other, uid), (vip, "abc"), (vip, "-1")):
        requests = [
            client.get(f"/api/uploads/{upload_id}", headers=account.headers),
            client.put(f"/api/uploads/{upload_id}/chunks/0", data=data,
                       headers={**account.headers, "X-Chunk-SHA256": sha256(data)}),
            client.post(f"/api/uploads/{upload_id}/complete", headers=account.headers),
            client.delete(f"/api/uploads/{upload_id}", headers=account.headers),
        ]
        for response in await asyncio.gather(*requests):
            assert response.status == 404, (account.username, upload_id, response.method)
            assert error_of(await response.json()) in ("upload_not_found", "not_found")
    await nothing_kept(svc, uid)
    assert (await repos_of(svc.db).uploads.get(uid)).status == "pending"


async def test_missing_or_invalid_key_is_401(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(1000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    for headers in ({}, {"X-API-Key": "kd_not-a-real-key"}, {"X-API-Key": "garbage"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        for method, path in (("POST", "/api/uploads"), ("GET", f"/api/uploads/{upload['id']}"),
                             ("PUT", f"/api/uploads/{upload['id']}/chunks/0"),
                             ("POST", f"/api/uploads/{upload['id']}/complete"),
                             ("DELETE", f"/api/uploads/{upload['id']}")):
            response = await client.request(method, path, data=data,
                                            headers={**headers, "X-Chunk-SHA256": sha256(data)})
            assert response.status == 401, (method, path, headers)
            assert error_of(await response.json())
    await nothing_kept(svc, upload["id"])
    revoked = (await svc.accounts.list_api_keys(vip.user_id))[0]
    await svc.accounts.revoke_api_key(revoked.id)
    status, body = await put_chunk(client, vip, upload["id"], 0, data)
    assert (status, error_of(body)) == (401, "api_key_revoked")


async def test_chunks_after_completion_are_refused(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    await upload_all(client, vip, upload, data)
    video_id = (await (await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)).json())[
        "video_id"]
    status, body = await put_chunk(client, vip, upload["id"], 0, data[:1000])
    assert (status, error_of(body)) == (409, "upload_completed")
    assert body["error"]["details"]["video_id"] == video_id
    response = await client.delete(f"/api/uploads/{upload['id']}", headers=vip.headers)
    assert response.status == 409 and error_of(await response.json()) == "upload_completed"
    assert await repos_of(svc.db).videos.count() == 1


async def test_resending_a_verified_chunk(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    parts = chunks_of(data, 1000)
    status, first = await put_chunk(client, vip, upload["id"], 0, parts[0])
    assert status == 200 and first["stored"] is True
    status, again = await put_chunk(client, vip, upload["id"], 0, parts[0])
    assert status == 200 and again["stored"] is False and again["status"] == "verified"
    forged = b"y" * 1000
    status, body = await put_chunk(client, vip, upload["id"], 0, forged)
    assert (status, error_of(body)) == (409, "chunk_conflict")
    rows = await repos_of(svc.db).upload_chunks.find_by_upload(upload["id"])
    assert [(r.chunk_number, r.checksum) for r in rows] == [(0, sha256(parts[0]))]
    assert (await repos_of(svc.db).uploads.get(upload["id"])).bytes_received == 1000
    await put_chunk(client, vip, upload["id"], 1, parts[1])
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert await original_bytes(svc, (await response.json())["video_id"]) == data


async def test_concurrent_puts_of_one_chunk_cannot_corrupt_it(svc: Services, client: TestClient,
                                                              vip: Account) -> None:
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    parts = chunks_of(data, 1000)
    release = asyncio.Event()

    async def slow() -> Any:
        yield parts[0][:500]
        await release.wait()
        yield parts[0][500:]

    first = asyncio.create_task(client.put(f"/api/uploads/{upload['id']}/chunks/0", data=slow(),
                                           headers={**vip.headers, "X-Chunk-SHA256": sha256(parts[0])}))
    for _ in range(200):
        if svc.uploads.inflight.bytes_in_flight(upload["id"]) >= 500:
            break
        await asyncio.sleep(0.01)
    rival = b"z" * 1000
    status, body = await put_chunk(client, vip, upload["id"], 0, rival)
    assert (status, error_of(body)) == (409, "chunk_in_progress")
    release.set()
    assert (await first).status == 200
    rows = await repos_of(svc.db).upload_chunks.find_by_upload(upload["id"])
    assert [r.checksum for r in rows] == [sha256(parts[0])]


async def test_two_server_processes_racing_on_one_chunk_record_one_version(
        svc: Services, client: TestClient, vip: Account) -> None:
    """Without the in-process guard (another process), the database decides and the files never mix."""
    data = random_bytes(2000)
    upload = await create_upload(client, vip, data, total_chunks=2)
    user = await svc.accounts.get_user(vip.user_id)
    twins = [UploadService(svc.db, svc.library, svc.events, svc.settings) for _ in range(2)]
    bodies = [b"a" * 1000, b"b" * 1000]

    async def body(payload: bytes) -> Any:
        for i in range(0, 1000, 100):
            await asyncio.sleep(0)
            yield payload[i:i + 100]

    results = await asyncio.gather(*(
        twin.put_chunk(user, upload["id"], 0, body(b), sha256=sha256(b), content_length=None)
        for twin, b in zip(twins, bodies, strict=True)), return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1 and getattr(losses[0], "code", None) == "chunk_conflict"
    rows = await repos_of(svc.db).upload_chunks.find_by_upload(upload["id"])
    assert len(rows) == 1
    winner = rows[0].checksum
    token = (await repos_of(svc.db).uploads.get(upload["id"])).token
    on_disk = files_under(svc.settings.uploads_dir / token)
    assert [p.name for p in on_disk] == [f"part_000000.{winner}"]
    assert sha256(on_disk[0].read_bytes()) == winner


async def test_disconnect_mid_chunk_keeps_nothing(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(200_000)
    upload = await create_upload(client, vip, data, total_chunks=1)
    host, port = client.server.host, client.server.port
    head = (f"PUT /api/uploads/{upload['id']}/chunks/0 HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {vip.key}\r\n"
            f"X-Chunk-SHA256: {sha256(data)}\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    _reader, writer = await asyncio.open_connection(host, port)
    writer.write(head + data[:120_000])
    await writer.drain()
    for _ in range(200):
        if svc.uploads.inflight.bytes_in_flight(upload["id"]) >= 100_000:
            break
        await asyncio.sleep(0.01)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    writer.close()
    for _ in range(300):
        if not svc.uploads.inflight.busy(upload["id"]):
            break
        await asyncio.sleep(0.01)
    assert not svc.uploads.inflight.busy(upload["id"])
    await nothing_kept(svc, upload["id"])
    view = await (await client.get(f"/api/uploads/{upload['id']}", headers=vip.headers)).json()
    assert view["uploaded_chunks"] == [] and view["bytes_received"] == 0
    assert (await put_chunk(client, vip, upload["id"], 0, data))[0] == 200
