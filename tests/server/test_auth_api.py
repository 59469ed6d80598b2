"""/api/auth/* and /api/me over HTTP, on both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services
from tests.support.auth import PASSWORD, MonotonicClock, b64url, make_user, running_services, valid_claims

Client = TestClient
ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    async with running_services(settings) as services:
        yield services


@pytest.fixture
async def client(svc: Services, aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(create_app(svc))


async def login(client: Client, **body: Any) -> Any:
    response = await client.post("/api/auth/login", json=body)
    return response.status, await response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_then_me_by_username_and_by_email(svc: Services, client: Client) -> None:
    alice = await make_user(svc)
    for body in ({"username": "alice"}, {"email": "alice@example.com"}):
        response = await client.post("/api/auth/login", json={**body, "password": PASSWORD})
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        tokens = await response.json()
        assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
        me = await client.get("/api/me", headers=bearer(tokens["access_token"]))
        assert me.status == 200
        account = await me.json()
        assert account["id"] == alice.id and account["username"] == "alice" and account["role"] == "user"
        assert account["auth_method"] == "jwt" and account["last_login_at"]
        assert "password_hash" not in account and "$2b$" not in json.dumps(account)


async def test_unknown_user_and_wrong_password_answer_identically(svc: Services, client: Client) -> None:
    await make_user(svc)
    wrong = await client.post("/api/auth/login", json={"username": "alice", "password": "wrong password"})
    unknown = await client.post("/api/auth/login", json={"username": "mallory", "password": "wrong password"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json() == {
        "error": {"code": "invalid_credentials", "message": "wrong username or password"}}
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"username": "alice"}', b'{"password": "x"}',
                                  b'{"username": 5, "password": "x"}', b'{"username": "alice", "password": 5}',
                                  b'{"username": "alice", "password": null}'])
async def test_malformed_login_bodies_are_400(svc: Services, client: Client, body: bytes) -> None:
    await make_user(svc)
    response = await client.post("/api/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] in {"invalid_json", "invalid_input"}


async def test_oversized_login_body_is_413(client: Client) -> None:
    response = await client.post("/api/auth/login", json={"username": "a", "password": "p" * 20_000})
    assert response.status == 413


async def test_long_passwords_are_401_not_500(svc: Services, client: Client) -> None:
    await make_user(svc)
    for password in ("p" * 73, "😀" * 1000):
        status, body = await login(client, username="alice", password=password)
        assert status == 401 and body["error"]["code"] == "invalid_credentials"


async def test_burst_of_wrong_passwords_gets_429_then_the_right_one_works_after_the_window(
        svc: Services, client: Client) -> None:
    await make_user(svc)
    clock = MonotonicClock()
    svc.tokens.throttle.clock = clock
    for _ in range(5):
        assert (await login(client, username="alice", password="guess guess"))[0] == 401
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) == 300
    assert (await response.json())["error"]["code"] == "too_many_attempts"
    clock.advance(120)
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 429 and int(response.headers["Retry-After"]) == 180
    clock.advance(180)
    status, tokens = await login(client, username="alice", password=PASSWORD)
    assert status == 200 and tokens["access_token"]


async def test_unknown_accounts_are_throttled_like_real_ones(svc: Services, client: Client) -> None:
    svc.tokens.throttle.clock = MonotonicClock()
    statuses = [(await login(client, username="ghost", password="guess guess"))[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_one_address_guessing_many_accounts_is_throttled(svc: Services, client: Client) -> None:
    await make_user(svc)
    svc.tokens.throttle.clock = MonotonicClock()
    for i in range(5):
        await login(client, username=f"user{i}", password="guess guess")
    status, _ = await login(client, username="alice", password=PASSWORD)
    assert status == 429


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(svc: Services, client: Client) -> None:
    svc.tokens.throttle.clock = MonotonicClock()
    for i in range(5):  # a client rotating fake X-Forwarded-For values does not escape its address's limit
        await client.post("/api/auth/login", json={"username": f"u{i}", "password": "guess guess"},
                          headers={"X-Forwarded-For": f"198.51.100.{i}"})
    response = await client.post("/api/auth/login", json={"username": "x", "password": "guess guess"},
                                 headers={"X-Forwarded-For": "198.51.100.99"})
    assert response.status == 429


async def test_trusted_proxy_forwarded_for_names_the_client(settings: Settings,
                                                            aiohttp_client: ClientFactory) -> None:
    settings.security.trusted_proxies = ["127.0.0.0/8"]
    async with running_services(settings) as svc:
        client = await aiohttp_client(create_app(svc))
        await make_user(svc)
        svc.tokens.throttle.clock = MonotonicClock()
        for i in range(5):
            await client.post("/api/auth/login", json={"username": f"u{i}", "password": "guess guess"},
                              headers={"X-Forwarded-For": "spoofed, 203.0.113.5"})
        blocked = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD},
                                    headers={"X-Forwarded-For": "203.0.113.5"})
        assert blocked.status == 429
        other = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD},
                                  headers={"X-Forwarded-For": "203.0.113.5, 203.0.113.6"})
        assert other.status == 200
        sessions = await repos_of(svc.db).sessions.list()
        assert [s.ip_address for s in sessions] == ["203.0.113.6"]


async def test_refresh_rotation_reuse_and_logout_over_http(svc: Services, client: Client) -> None:
    await make_user(svc)
    _, first = await login(client, username="alice", password=PASSWORD)
    response = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    second = await response.json()
    assert (await client.get("/api/me", headers=bearer(second["access_token"]))).status == 200
    replay = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status == 401 and (await replay.json())["error"]["code"] == "invalid_refresh_token"
    assert (await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})).status == 401

    _, third = await login(client, username="alice", password=PASSWORD)
    logout = await client.post("/api/auth/logout", json={"refresh_token": third["refresh_token"]})
    assert logout.status == 204
    assert (await client.post("/api/auth/refresh", json={"refresh_token": third["refresh_token"]})).status == 401
    assert (await client.post("/api/auth/logout", json={"refresh_token": third["refresh_token"]})).status == 204


@pytest.mark.parametrize("path", ["/api/auth/refresh", "/api/auth/logout"])
@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": None}])
async def test_refresh_and_logout_need_a_token(client: Client, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    assert response.status == 400


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic YTpi"},
    {"Authorization": "Bearer a.b.c"}, {"X-API-Key": "kd_nope"}, {"X-API-Key": "no-prefix"},
])
async def test_me_refuses_missing_or_bad_credentials(client: Client, headers: dict[str, str]) -> None:
    response = await client.get("/api/me", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set((await response.json())["error"]) == {"code", "message"}


async def test_alg_none_over_http_is_401(svc: Services, client: Client) -> None:
    alice = await make_user(svc)
    await login(client, username="alice", password=PASSWORD)
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None
    header = b64url(json.dumps({"alg": "none", "kid": str(key.id)}).encode())
    token = f"{header}.{b64url(json.dumps(valid_claims(svc, alice.id)).encode())}."
    assert (await client.get("/api/me", headers=bearer(token))).status == 401


async def test_api_keys_valid_revoked_expired(svc: Services, client: Client) -> None:
    alice = await make_user(svc)
    good, _ = await svc.accounts.issue_api_key(alice.id, "good")
    revoked, revoked_row = await svc.accounts.issue_api_key(alice.id, "revoked")
    expired, expired_row = await svc.accounts.issue_api_key(alice.id, "expired", expires_days=1)
    await svc.accounts.revoke_api_key(revoked_row.id)
    await repos_of(svc.db).api_keys.update(expired_row.id, {"expires_at": svc.tokens.clock() - timedelta(seconds=1)})

    response = await client.get("/api/me", headers={"X-API-Key": good})
    assert response.status == 200
    body = await response.json()
    assert body["username"] == "alice" and body["auth_method"] == "api_key"
    for key, code in ((revoked, "api_key_revoked"), (expired, "api_key_expired")):
        response = await client.get("/api/me", headers={"X-API-Key": key})
        assert response.status == 401 and (await response.json())["error"]["code"] == code


async def test_deactivated_user_is_refused_with_jwt_and_api_key(svc: Services, client: Client) -> None:
    alice = await make_user(svc)
    api_key, _ = await svc.accounts.issue_api_key(alice.id)
    _, tokens = await login(client, username="alice", password=PASSWORD)
    await svc.accounts.set_active(alice.id, False)
    assert (await client.get("/api/me", headers=bearer(tokens["access_token"]))).status == 401
    assert (await client.get("/api/me", headers={"X-API-Key": api_key})).status == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status == 401
    status, body = await login(client, username="alice", password=PASSWORD)
    assert status == 403 and body["error"]["code"] == "account_inactive"


async def test_local_admin_token_still_works(svc: Services, client: Client) -> None:
    response = await client.get("/api/me", headers=bearer(svc.local_admin_token))
    assert response.status == 200
    assert (await response.json())["auth_method"] == "local"


async def test_corrupted_signing_key_is_a_clean_500(svc: Services, client: Client) -> None:
    alice = await make_user(svc)
    await login(client, username="alice", password=PASSWORD)
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None
    await repos_of(svc.db).keys.update(key.id, {"private_key": key.private_key[:-4] + "AAAA"})
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 500
    body = await response.json()
    assert body["error"]["code"] == "signing_key_unreadable" and "access_token" not in body


async def test_openapi_describes_the_auth_routes(client: Client) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    for path, method in (("/api/auth/login", "post"), ("/api/auth/refresh", "post"),
                         ("/api/auth/logout", "post"), ("/api/me", "get")):
        operation = document["paths"][path][method]
        assert operation["summary"] and operation["responses"]
    assert "429" in document["paths"]["/api/auth/login"]["post"]["responses"]
