"""tus creation-defer-length, CORS for browser clients on other origins, and migration 0008, on both
databases; one real Chromium page on another origin uploads with fetch() (preflights included)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import async_playwright
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from kdrama_tui.config import load_settings
from kdrama_tui.db import open_database
from kdrama_tui.db.migrate import apply_migrations, available_migrations
from kdrama_tui.errors import ConfigError, Conflict, InsufficientStorage, ValidationError
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from tests.services.uploads.test_migration_0004 import migrate_up_to
from tests.services.uploads.test_tus import create, in_thread, patch, upload_of
from tests.support.browser import CHROMIUM_ARGS
from tests.support.uploads import Account, original_bytes, random_bytes, upload_folders

TUS = {"Tus-Resumable": "1.0.0"}
DEFER = {"Upload-Defer-Length": "1"}
PAGE_ORIGIN = "https://uploader.example"


def sha256_header(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


async def create_deferred(client: TestClient, account: Account, **headers: str) -> str:
    response = await client.post("/api/tus/", headers={**TUS, **account.headers, **DEFER, **headers})
    assert response.status == 201, await response.text()
    assert response.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in response.headers
    return response.headers["Location"]


async def head(client: TestClient, account: Account, location: str) -> Any:
    response = await client.head(location, headers={**TUS, **account.headers})
    assert response.status == 200
    return response


async def error_code(response: Any) -> str:
    return (await response.json())["error"]["code"]


# ---- creation-defer-length --------------------------------------------------------------------------
async def test_deferred_upload_is_finished_by_tuspy_once_the_length_is_known(
        svc: Services, client: TestClient, vip: Account, tmp_path: Path) -> None:
    data = random_bytes(1_300_000, seed=41)
    source = tmp_path / "live.mp4"
    source.write_bytes(data)
    location = await create_deferred(client, vip, **{"Upload-Metadata": "filename " +
                                                     base64.b64encode(b"live.mp4").decode()})
    first = await head(client, vip, location)
    assert first.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in first.headers
    assert first.headers["Upload-Offset"] == "0"

    sent = await patch(client, vip, location, 0, data[:400_000])
    assert sent.status == 204 and sent.headers["Upload-Offset"] == "400000"
    assert sent.headers["Upload-Defer-Length"] == "1"
    still = await head(client, vip, location)
    assert still.headers["Upload-Defer-Length"] == "1" and still.headers["Upload-Offset"] == "400000"
    upload = await upload_of(svc, location)
    view = await (await client.get(f"/api/uploads/{upload.id}", headers=vip.headers)).json()
    assert (view["total_size"], view["length_deferred"], view["progress"], view["bytes_received"]) == \
        (None, True, None, 400_000)

    # The length arrives with the next PATCH (with a checksum: the normal rules apply from here on).
    declared = await patch(client, vip, location, 400_000, data[400_000:700_000],
                           **{"Upload-Length": str(len(data)), "Upload-Checksum": sha256_header(data[400_000:700_000])})
    assert declared.status == 204, await declared.text()
    assert declared.headers["Upload-Length"] == str(len(data)) and "Upload-Defer-Length" not in declared.headers
    known = await head(client, vip, location)
    assert known.headers["Upload-Length"] == str(len(data)) and "Upload-Defer-Length" not in known.headers

    # A stock tus client resumes the URL from HEAD's offset and sends the rest.
    tus = TusClient(str(client.make_url("/api/tus/")), headers=vip.headers)
    uploader = await in_thread(Uploader, file_path=str(source), client=tus, url=str(client.make_url(location)),
                               chunk_size=250_000)
    await in_thread(uploader.upload)

    upload = await upload_of(svc, location)
    assert upload.status == "completed" and upload.total_size == len(data) and upload.video_id is not None
    stored = await original_bytes(svc, upload.video_id)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert upload_folders(svc) == []


async def test_length_in_an_empty_final_patch_completes(svc: Services, client: TestClient, vip: Account) -> None:
    data = random_bytes(90_000, seed=42)
    # creation-with-upload and deferred length together, then the length alone, through method override.
    response = await client.post("/api/tus/", data=data[:50_000], headers={
        **TUS, **vip.headers, **DEFER, "Content-Type": "application/offset+octet-stream"})
    assert response.status == 201 and response.headers["Upload-Offset"] == "50000"
    location = response.headers["Location"]
    assert (await patch(client, vip, location, 50_000, data[50_000:])).status == 204
    assert (await upload_of(svc, location)).status == "uploading"  # all bytes in, but the length is unknown
    done = await client.post(location, data=b"", headers={
        **TUS, **vip.headers, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": str(len(data)),
        "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream"})
    assert done.status == 204, await done.text()
    upload = await upload_of(svc, location)
    assert upload.status == "completed" and upload.video_id is not None
    assert await original_bytes(svc, upload.video_id) == data


async def test_the_length_is_declared_once(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.max_size = 100_000
    location = await create_deferred(client, vip)
    assert (await patch(client, vip, location, 0, b"a" * 3_000)).status == 204

    too_short = await patch(client, vip, location, 3_000, b"", **{"Upload-Length": "2999"})
    assert too_short.status == 409 and await error_code(too_short) == "upload_length_too_small"
    assert too_short.headers["Upload-Offset"] == "3000"
    too_long = await patch(client, vip, location, 3_000, b"", **{"Upload-Length": "100001"})
    assert too_long.status == 413 and await error_code(too_long) == "upload_too_large"
    garbage = await patch(client, vip, location, 3_000, b"", **{"Upload-Length": "ten"})
    assert garbage.status == 400 and await error_code(garbage) == "invalid_header"
    assert (await upload_of(svc, location)).total_size is None  # none of those changed anything

    assert (await patch(client, vip, location, 3_000, b"b" * 1_000, **{"Upload-Length": "8000"})).status == 204
    # The same length again is a retried request (its answer was lost): accepted.
    again = await patch(client, vip, location, 4_000, b"c" * 1_000, **{"Upload-Length": "8000"})
    assert again.status == 204 and again.headers["Upload-Offset"] == "5000"
    changed = await patch(client, vip, location, 5_000, b"d" * 1_000, **{"Upload-Length": "9000"})
    assert changed.status == 409 and await error_code(changed) == "upload_length_fixed"
    assert changed.headers["Upload-Offset"] == "5000"
    upload = await upload_of(svc, location)
    assert (upload.total_size, upload.bytes_received, upload.status) == (8_000, 5_000, "uploading")

    # An upload created with its length cannot change it either.
    fixed = (await create(client, vip, 500)).headers["Location"]
    refused = await patch(client, vip, fixed, 0, b"x" * 100, **{"Upload-Length": "600"})
    assert refused.status == 409 and await error_code(refused) == "upload_length_fixed"
    assert (await upload_of(svc, fixed)).bytes_received == 0


async def test_max_size_bounds_a_deferred_upload(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.max_size = 10_000
    svc.settings.uploads.max_chunk_size = 6_000
    data = random_bytes(10_000, seed=43)
    big_first = await client.post("/api/tus/", data=b"x" * 6_000, headers={
        **TUS, **vip.headers, **DEFER, "Content-Type": "application/offset+octet-stream"})
    assert big_first.status == 201  # creation-with-upload within the limit
    location = await create_deferred(client, vip)
    assert (await patch(client, vip, location, 0, data[:6_000])).status == 204

    over = await patch(client, vip, location, 6_000, data[6_000:] + b"!")  # Content-Length says 4001
    assert over.status == 413 and await error_code(over) == "upload_too_large"
    assert over.headers["Upload-Offset"] == "6000"

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: caught while it streams
        yield data[6_000:9_000]
        yield data[9_000:] + b"!!"

    chunked = await client.patch(location, data=streamed(), headers={
        **TUS, **vip.headers, "Upload-Offset": "6000", "Content-Type": "application/offset+octet-stream"})
    assert chunked.status == 413 and await error_code(chunked) == "upload_too_large"
    upload = await upload_of(svc, location)
    assert (upload.bytes_received, upload.status, upload.total_size) == (6_000, "uploading", None)
    assert (await head(client, vip, location)).headers["Upload-Offset"] == "6000"

    # Exactly up to the limit is fine, and what was stored before the refusals is intact.
    assert (await patch(client, vip, location, 6_000, data[6_000:])).status == 204
    one_more = await patch(client, vip, location, 10_000, b"!")
    assert one_more.status == 413 and await error_code(one_more) == "upload_too_large"
    done = await patch(client, vip, location, 10_000, b"", **{"Upload-Length": "10000"})
    assert done.status == 204
    upload = await upload_of(svc, location)
    assert upload.status == "completed" and upload.video_id is not None
    assert await original_bytes(svc, upload.video_id) == data


# ---- CORS -------------------------------------------------------------------------------------------
def cors_of(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


async def preflight(client: TestClient, path: str, origin: str, method: str = "PATCH") -> Any:
    return await client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type,x-api-key"})


async def test_a_length_sent_while_another_patch_streams_changes_nothing(svc: Services, vip: Account) -> None:
    """A retry with Upload-Length arriving while the first PATCH still streams is refused as busy and must
    not fix a length under that PATCH (which would leave more bytes than the upload's length). (This first
    PATCH cannot be stopped, so the retry gives up waiting for it to settle after supersede_seconds.)"""
    svc.uploads.supersede_seconds = 0.2
    user = await repos_of(svc.db).users.find_by_id(vip.user_id)
    assert user is not None
    upload = await svc.uploads.create(user, filename="a.mp4", total_size=None, protocol="tus")
    halfway = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        halfway.set()
        await go_on.wait()
        yield b"y" * 1000

    async def no_body() -> AsyncIterator[bytes]:
        return
        yield b""

    streaming = asyncio.create_task(svc.uploads.append(user, upload.token, offset=0, body=slow_body(),
                                                       content_length=None, checksum=None))
    await halfway.wait()
    with pytest.raises(Conflict) as busy:
        await svc.uploads.append(user, upload.token, offset=0, body=no_body(), content_length=0, checksum=None,
                                 upload_length=500)
    assert busy.value.code == "upload_busy"
    go_on.set()
    await streaming
    row = await repos_of(svc.db).uploads.get(upload.id)
    assert (row.total_size, row.bytes_received, row.status) == (None, 2000, "uploading")
    # The real length, declared by the next PATCH, completes it.
    done = await svc.uploads.append(user, upload.token, offset=2000, body=no_body(), content_length=0,
                                    checksum=None, upload_length=2000)
    assert done.total_size == 2000 and done.bytes_received == 2000


async def test_a_deferred_upload_cannot_write_into_space_others_reserved(svc: Services, vip: Account) -> None:
    """Deferred uploads reserve nothing at creation, so each of their bodies is checked against the free space
    left after what unfinished uploads of known length reserved: 507, nothing kept, then it goes on."""
    user = await repos_of(svc.db).users.find_by_id(vip.user_id)
    assert user is not None
    free = svc.uploads.store.free_bytes()
    svc.settings.uploads.max_size = 1 << 62
    svc.settings.uploads.max_chunk_size = 1 << 40
    svc.settings.uploads.free_space_margin = 0
    deferred = await svc.uploads.create(user, filename="live.mp4", total_size=None, protocol="tus")
    big = await svc.uploads.create(user, filename="big.mkv", total_size=free - (64 << 20), protocol="tus")

    async def body(data: bytes) -> AsyncIterator[bytes]:
        yield data

    with pytest.raises(InsufficientStorage):  # refused before a byte is read
        await svc.uploads.append(user, deferred.token, offset=0, body=body(b""), content_length=256 << 20,
                                 checksum=None)
    assert (await repos_of(svc.db).uploads.get(deferred.id)).bytes_received == 0
    await svc.uploads.abort(user, big.id)
    done = await svc.uploads.append(user, deferred.token, offset=0, body=body(b"z" * 5000), content_length=5000,
                                    checksum=None)
    assert done.bytes_received == 5000


async def test_preflight_from_an_allowed_origin_only(svc: Services, client: TestClient, vip: Account) -> None:
    location = (await create(client, vip, 100)).headers["Location"]
    for path in ("/api/tus/", location):
        assert cors_of(await preflight(client, path, PAGE_ORIGIN)) == {}  # default: no cross-origin access

    svc.settings.uploads.cors_origins = f"https://other.example, {PAGE_ORIGIN}"
    for path in ("/api/tus/", location):
        response = await preflight(client, path, PAGE_ORIGIN)
        assert response.status == 204
        headers = cors_of(response)
        assert headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
        assert "Origin" in response.headers["Vary"]
        assert {m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")} == {
            "POST", "HEAD", "PATCH", "DELETE", "OPTIONS"}
        allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed >= {"authorization", "x-api-key", "tus-resumable", "upload-length", "upload-defer-length",
                           "upload-metadata", "upload-offset", "upload-checksum", "upload-concat", "content-type",
                           "x-http-method-override"}
        assert int(headers["Access-Control-Max-Age"]) > 0
        assert response.headers["Tus-Extension"]  # still the tus discovery answer

        for stranger in ("https://evil.example", "https://uploader.example.evil.example", "null"):
            refused = await preflight(client, path, stranger)
            assert cors_of(refused) == {}, stranger

    svc.settings.uploads.cors_origins = "*"
    assert cors_of(await preflight(client, "/api/tus/", "https://anyone.example"))[
        "Access-Control-Allow-Origin"] == "*"


async def test_every_tus_response_exposes_its_headers(svc: Services, client: TestClient, vip: Account) -> None:
    svc.settings.uploads.cors_origins = PAGE_ORIGIN
    origin = {"Origin": PAGE_ORIGIN}

    def exposed(response: Any) -> set[str]:
        assert response.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
        assert "Access-Control-Allow-Methods" not in response.headers  # preflight-only headers stay there
        return {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}

    wanted = {"location", "upload-offset", "upload-length", "upload-defer-length", "tus-resumable", "tus-version",
              "tus-extension", "tus-max-size", "upload-expires", "upload-metadata"}
    created = await create(client, vip, 10, **origin)
    assert created.status == 201 and exposed(created) >= wanted
    location = created.headers["Location"]
    responses = [
        await client.head(location, headers={**TUS, **vip.headers, **origin}),
        await patch(client, vip, location, 0, b"12345", **origin),
        await patch(client, vip, location, 0, b"12345", **origin),  # 409 offset mismatch
        await client.post("/api/tus/", headers={**vip.headers, "Upload-Length": "5", **origin}),  # 412
        await client.head("/api/tus/" + "x" * 32, headers={**TUS, **vip.headers, **origin}),  # 404
        await client.delete(location, headers={**TUS, **vip.headers, **origin}),
    ]
    assert [r.status for r in responses] == [200, 204, 409, 412, 404, 204]
    for response in responses:
        assert exposed(response) >= wanted
    other = await client.head(location, headers={**TUS, **vip.headers, "Origin": "https://evil.example"})
    assert cors_of(other) == {}


@pytest.mark.parametrize("value", ["https://a.example/", "a.example", "https://a.example/path", "*, https://a.example",
                                   "ftp://a.example"])
def test_bad_cors_origins_are_refused_at_start(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"uploads\.cors_origins"):
        load_settings(env={"KDRAMA_UPLOADS_CORS_ORIGINS": value, "KDRAMA_DATA_DIR": str(tmp_path)})


def test_good_cors_origins_load(tmp_path: Path) -> None:
    value = "https://a.example, http://127.0.0.1:8080,http://[::1]:9000"
    settings = load_settings(env={"KDRAMA_UPLOADS_CORS_ORIGINS": value, "KDRAMA_DATA_DIR": str(tmp_path)})
    assert settings.uploads.cors_origins == value
    assert load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path)}).uploads.cors_origins == ""


# ---- a real browser on another origin ---------------------------------------------------------------
PAGE = """<!doctype html><meta charset="utf-8"><title>my uploader</title><script>
async function tusUpload(server, key, b64, cut) {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const base = {'Tus-Resumable': '1.0.0', 'X-API-Key': key};
  const octets = {...base, 'Content-Type': 'application/offset+octet-stream'};
  const created = await fetch(server + '/api/tus/', {method: 'POST', headers: {...base, 'Upload-Defer-Length': '1',
                              'Upload-Metadata': 'filename ' + btoa('browser.mp4')}});
  const url = new URL(created.headers.get('Location'), server).href;
  const first = await fetch(url, {method: 'PATCH', headers: {...octets, 'Upload-Offset': '0'},
                                  body: bytes.slice(0, cut)});
  const probe = await fetch(url, {method: 'HEAD', headers: base});
  const last = await fetch(url, {method: 'PATCH', body: bytes.slice(cut), headers: {...octets,
      'Upload-Offset': probe.headers.get('Upload-Offset'), 'Upload-Length': String(bytes.length)}});
  return {created: created.status, location: created.headers.get('Location'), first: first.status,
          firstOffset: first.headers.get('Upload-Offset'), defer: probe.headers.get('Upload-Defer-Length'),
          last: last.status, lastOffset: last.headers.get('Upload-Offset'),
          length: last.headers.get('Upload-Length')};
}
</script>"""


async def uploader_page(_: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def test_chromium_on_another_origin_uploads_with_fetch(svc: Services, client: TestClient, vip: Account
                                                             ) -> None:
    page_app = web.Application()
    page_app.router.add_get("/", uploader_page)
    page_server = TestServer(page_app, host="127.0.0.1")
    await page_server.start_server()
    api = str(client.make_url("/")).rstrip("/")
    page_origin = str(page_server.make_url("/")).rstrip("/")
    assert page_origin != api  # another port: another origin, so every request goes through CORS
    data = random_bytes(200_000, seed=44)
    encoded = base64.b64encode(data).decode()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(page_origin + "/")
                call = "([s, k, b]) => tusUpload(s, k, b, 120000)"

                # Not on the allow-list: the browser refuses to send (the preflight has no CORS headers).
                with pytest.raises(Exception, match="Failed to fetch"):
                    await page.evaluate(call, [api, vip.key, encoded])
                assert await repos_of(svc.db).uploads.count() == 0

                svc.settings.uploads.cors_origins = page_origin
                result = await page.evaluate(call, [api, vip.key, encoded])
            finally:
                await browser.close()
    finally:
        await page_server.close()
    assert result["created"] == 201 and result["location"].startswith("/api/tus/")
    assert (result["first"], result["firstOffset"], result["defer"]) == (204, "120000", "1")
    assert (result["last"], result["lastOffset"], result["length"]) == (204, str(len(data)), str(len(data)))
    upload = await upload_of(svc, result["location"])
    assert upload.status == "completed" and upload.video_id is not None
    stored = await original_bytes(svc, upload.video_id)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()


# ---- migration 0008 ---------------------------------------------------------------------------------
async def test_migration_0008_keeps_uploads_and_allows_only_open_tus_rows_without_a_length(
        database_url: str) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        await migrate_up_to(db, "0007")
        user = await db.fetch_one("INSERT INTO users (username, email, password_hash) VALUES ('old', 'o@x.io', 'h') "
                                  "RETURNING id")
        assert user is not None
        now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        row = await db.fetch_one(
            "INSERT INTO uploads (user_id, filename, total_size, total_chunks, uploaded_chunks, status, created_at, "
            "token, protocol, bytes_received, updated_at) VALUES (:u, 'a.mkv', 30, 2, :chunks, 'uploading', :t, "
            ":token, 'tus', 20, :t) RETURNING id",
            {"u": user["id"], "chunks": [0, 1], "t": now, "token": "k" * 32})
        assert row is not None
        for n in (0, 1):
            await db.execute("INSERT INTO upload_chunks (upload_id, chunk_number, chunk_size, checksum, status) "
                             "VALUES (:id, :n, 10, :sum, 'verified')", {"id": row["id"], "n": n, "sum": f"{n:064d}"})
        assert "0008" in await apply_migrations(db)
        assert [m.version for m in available_migrations()][-1] >= "0008"

        upload = await repos_of(db).uploads.get(row["id"])
        assert (upload.total_size, upload.bytes_received, upload.protocol, upload.token, upload.created_at) == \
            (30, 20, "tus", "k" * 32, now)
        assert await repos_of(db).upload_chunks.count({"upload_id": upload.id}) == 2

        deferred = await repos_of(db).uploads.update(upload.id, {"total_size": None})
        assert deferred is not None and deferred.total_size is None
        for changes in ({"status": "completed"}, {"status": "assembling"}, {"protocol": "chunk"}):
            with pytest.raises(ValidationError):
                await repos_of(db).uploads.update(upload.id, changes)
        assert (await repos_of(db).uploads.get(upload.id)).status == "uploading"
        await repos_of(db).uploads.delete(upload.id)  # the cascade still reaches the rebuilt chunk table
        assert await repos_of(db).upload_chunks.count() == 0
        if db.dialect == "sqlite":
            assert await db.fetch_all("PRAGMA foreign_key_check") == []
            assert [r["integrity_check"] for r in await db.fetch_all("PRAGMA integrity_check")] == ["ok"]
    finally:
        await db.close()
