"""Access tokens, refresh sessions and signing keys, on both databases (RELIABILITY.md 33-42)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.errors import ConfigError, Unauthorized, ValidationError
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.master_key import KeyIntegrityError
from kdrama_tui.services.container import Services
from tests.support.auth import (
    PASSWORD,
    WallClock,
    b64url,
    forge,
    make_user,
    running_services,
    unverified_parts,
    use_clock,
    valid_claims,
)


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    async with running_services(settings) as services:
        yield services


async def expect_401(svc: Services, token: str, code: str = "invalid_token") -> None:
    with pytest.raises(Unauthorized) as caught:
        await svc.tokens.authenticate_access_token(token)
    assert caught.value.code == code


# ---- issuing and verifying access tokens -------------------------------------------------------------------
async def test_login_issues_an_eddsa_token_with_the_users_key_as_kid(svc: Services) -> None:
    alice = await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice", ip="192.0.2.1", user_agent="pytest")
    header, claims = unverified_parts(pair.access_token)
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None and key.is_active and key.algorithm == "EdDSA"
    assert header["alg"] == "EdDSA" and header["kid"] == str(key.id)
    assert set(claims) == {"sub", "iat", "nbf", "exp", "iss", "aud", "typ", "jti"}
    assert claims["sub"] == str(alice.id) and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60 == pair.expires_in
    assert (claims["iss"], claims["aud"]) == ("kdrama-tui", "kdrama-tui-api")
    principal = await svc.tokens.authenticate_access_token(pair.access_token)
    assert principal.user.id == alice.id and principal.via == "jwt"
    user = await repos_of(svc.db).users.get(alice.id)
    assert user.last_login_at is not None
    sessions = await repos_of(svc.db).sessions.list({"user_id": alice.id})
    assert [(s.ip_address, s.user_agent) for s in sessions] == [("192.0.2.1", "pytest")]


async def test_each_token_has_its_own_jti_and_login_by_email_works(svc: Services) -> None:
    await make_user(svc)
    first = await svc.tokens.login(PASSWORD, username="alice")
    second = await svc.tokens.login(PASSWORD, email="ALICE@example.com")
    assert unverified_parts(first.access_token)[1]["jti"] != unverified_parts(second.access_token)[1]["jti"]
    assert first.refresh_token != second.refresh_token


async def test_wrong_password_and_unknown_user_fail_the_same_way(svc: Services) -> None:
    await make_user(svc)
    with pytest.raises(Unauthorized) as wrong:
        await svc.tokens.login("not the password", username="alice")
    with pytest.raises(Unauthorized) as unknown:
        await svc.tokens.login("not the password", username="nobody")
    with pytest.raises(Unauthorized) as unknown_email:
        await svc.tokens.login(PASSWORD, email="nobody@example.com")
    assert wrong.value.to_dict() == unknown.value.to_dict() == unknown_email.value.to_dict()
    assert wrong.value.code == "invalid_credentials"


async def test_email_field_is_only_matched_against_emails(svc: Services) -> None:
    await make_user(svc)
    with pytest.raises(Unauthorized):
        await svc.tokens.login(PASSWORD, email="alice")


async def test_tampered_tokens_are_refused(svc: Services) -> None:
    await make_user(svc)
    token = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    header, payload, signature = token.split(".")
    claims = unverified_parts(token)[1]
    claims["exp"] += 3600
    longer = b64url(json.dumps(claims).encode())
    await expect_401(svc, f"{header}.{longer}.{signature}")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    await expect_401(svc, f"{header}.{payload}.{flipped}")
    await expect_401(svc, f"{header}.{payload}.")
    for garbage in ("", "abc", "a.b.c", "x" * 5000, token + "x"):
        await expect_401(svc, garbage)


async def test_token_signed_by_another_users_key_is_refused(svc: Services) -> None:
    alice = await make_user(svc, "alice")
    bob = await make_user(svc, "bob")
    await svc.tokens.login(PASSWORD, username="bob")
    bob_key = await repos_of(svc.db).keys.find_by_user(bob.id)
    assert bob_key is not None
    # Alice's valid key, sub=Bob: the key must belong to the subject.
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, bob.id)))
    # Alice's key with Bob's kid: the signature does not verify with Bob's key.
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, bob.id), kid=bob_key.id))
    # The same forged claims with Alice's own sub are fine: the test would pass for the wrong reason otherwise.
    assert (await svc.tokens.authenticate_access_token(await forge(svc, alice, valid_claims(svc, alice.id)))
            ).user.id == alice.id


async def test_alg_none_and_hs256_with_the_public_key_are_refused(svc: Services) -> None:
    alice = await make_user(svc)
    await svc.tokens.login(PASSWORD, username="alice")
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None
    claims = b64url(json.dumps(valid_claims(svc, alice.id)).encode())
    for alg in ("none", "None", "NONE"):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": str(key.id)}).encode())
        await expect_401(svc, f"{header}.{claims}.")
    # The classic confusion attack: HMAC keyed with the (public) verification key.
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": str(key.id)}).encode())
        signing_input = f"{header}.{claims}".encode()
        mac = hmac.new(key.public_key.encode(), signing_input, digest).digest()
        await expect_401(svc, f"{header}.{claims}.{b64url(mac)}")


async def test_expired_and_not_yet_valid_tokens_are_refused(svc: Services) -> None:
    alice = await make_user(svc)
    clock = WallClock()
    use_clock(svc, clock)
    clock.advance(minutes=-16)
    expired = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    await expect_401(svc, expired, "token_expired")
    clock.advance(minutes=16 + 60)
    future = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    await expect_401(svc, future)
    now = valid_claims(svc, alice.id)["iat"]
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, alice.id, nbf=now + 3600)))
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, alice.id, iat=now + 3600)))
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, alice.id, exp=now - 1)), "token_expired")


@pytest.mark.parametrize("override", [
    {"aud": "someone-else"}, {"iss": "evil"}, {"typ": "refresh"}, {"typ": None}, {"exp": None}, {"nbf": None},
    {"iat": None}, {"jti": None}, {"aud": None}, {"iss": None}, {"sub": None}, {"sub": 1}, {"sub": "1 "},
    {"exp": "tomorrow"},
])
async def test_claims_are_all_checked(svc: Services, override: dict[str, object]) -> None:
    alice = await make_user(svc)
    if override.get("sub") == 1:
        override = {"sub": alice.id}  # an integer sub, not the string the spec requires
    await expect_401(svc, await forge(svc, alice, valid_claims(svc, alice.id, **override)))


async def test_a_refresh_token_is_not_an_access_token(svc: Services) -> None:
    await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    await expect_401(svc, pair.refresh_token)


async def test_deactivated_user_tokens_are_refused(svc: Services) -> None:
    alice = await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    forged_later = await forge(svc, alice, valid_claims(svc, alice.id))
    await svc.accounts.set_active(alice.id, False)
    await expect_401(svc, pair.access_token)
    await expect_401(svc, forged_later)
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(pair.refresh_token)


async def test_deactivated_user_is_refused_even_with_a_live_key(svc: Services) -> None:
    alice = await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    await repos_of(svc.db).users.update(alice.id, {"is_active": False})  # bypass the service: key stays active
    await expect_401(svc, pair.access_token, "account_inactive")


async def test_password_change_ends_refresh_sessions_and_access_tokens(svc: Services) -> None:
    alice = await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    await svc.accounts.set_password(alice.id, "a brand new password")
    await expect_401(svc, pair.access_token)
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(pair.refresh_token)
    with pytest.raises(Unauthorized):
        await svc.tokens.login(PASSWORD, username="alice")
    fresh = await svc.tokens.login("a brand new password", username="alice")
    assert (await svc.tokens.authenticate_access_token(fresh.access_token)).user.id == alice.id


# ---- refresh sessions ---------------------------------------------------------------------------------------
async def test_refresh_rotates_and_reuse_revokes_the_family(svc: Services) -> None:
    alice = await make_user(svc)
    first = await svc.tokens.login(PASSWORD, username="alice")
    other_device = await svc.tokens.login(PASSWORD, username="alice")
    second = await svc.tokens.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert (await svc.tokens.authenticate_access_token(second.access_token)).user.id == alice.id
    rows = {s.refresh_token: s for s in await repos_of(svc.db).sessions.list({"user_id": alice.id})}
    old = rows[hashlib.sha256(first.refresh_token.encode()).hexdigest()]
    new = rows[hashlib.sha256(second.refresh_token.encode()).hexdigest()]
    assert old.replaced_by_id == new.id and old.family_id == new.family_id and new.revoked_at is None
    third = await svc.tokens.refresh(second.refresh_token)

    with pytest.raises(Unauthorized) as replay:
        await svc.tokens.refresh(first.refresh_token)  # a thief replays the first token
    assert replay.value.code == "invalid_refresh_token"
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(third.refresh_token)  # ...and the owner's current token died with the family
    family = await repos_of(svc.db).sessions.list({"family_id": old.family_id})
    assert len(family) == 3 and all(s.revoked_at is not None for s in family)
    assert svc.events.recent(prefix="user.session_reuse_detected")
    # Another login (another family) is untouched.
    assert (await svc.tokens.refresh(other_device.refresh_token)).refresh_token


async def test_simultaneous_refreshes_with_one_token_first_wins_then_family_is_revoked(svc: Services) -> None:
    await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    results = await asyncio.gather(*(svc.tokens.refresh(pair.refresh_token) for _ in range(2)),
                                   return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], Unauthorized)
    # The documented rule: the loser's request is indistinguishable from a replay, so the family is revoked.
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(winners[0].refresh_token)


async def test_many_simultaneous_refreshes_never_yield_two_live_tokens(svc: Services) -> None:
    await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    results = await asyncio.gather(*(svc.tokens.refresh(pair.refresh_token) for _ in range(6)),
                                   return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) <= 1
    live = [s for s in await repos_of(svc.db).sessions.list() if s.revoked_at is None]
    assert live == []


async def test_logout_revokes_the_session_only(svc: Services) -> None:
    await make_user(svc)
    phone = await svc.tokens.login(PASSWORD, username="alice")
    laptop = await svc.tokens.login(PASSWORD, username="alice")
    rotated = await svc.tokens.refresh(phone.refresh_token)
    await svc.tokens.logout(rotated.refresh_token)
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(rotated.refresh_token)
    await svc.tokens.logout(rotated.refresh_token)  # idempotent
    await svc.tokens.logout("never-issued")
    assert await svc.tokens.refresh(laptop.refresh_token)


async def test_expired_refresh_token_is_refused(svc: Services) -> None:
    await make_user(svc)
    clock = WallClock()
    use_clock(svc, clock)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    clock.advance(days=29)
    pair = await svc.tokens.refresh(pair.refresh_token)  # sliding: a used session lives on
    clock.advance(days=29)
    pair = await svc.tokens.refresh(pair.refresh_token)
    clock.advance(days=30, seconds=1)
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(pair.refresh_token)


@pytest.mark.parametrize("junk", ["", "x", "y" * 201, "\x00", "é" * 50])
async def test_junk_refresh_tokens_are_refused(svc: Services, junk: str) -> None:
    with pytest.raises(Unauthorized):
        await svc.tokens.refresh(junk)


# ---- signing keys -------------------------------------------------------------------------------------------
async def test_inactive_or_expired_key_refuses_its_tokens_and_a_new_key_is_made(svc: Services) -> None:
    alice = await make_user(svc)
    token = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None
    await repos_of(svc.db).keys.update(key.id, {"is_active": False})
    await expect_401(svc, token)
    token = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    newer = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert newer is not None and newer.id != key.id and newer.is_active
    assert unverified_parts(token)[0]["kid"] == str(newer.id)
    await repos_of(svc.db).keys.update(newer.id, {"expires_at": svc.tokens.clock() - timedelta(seconds=1)})
    await expect_401(svc, token)


async def test_key_close_to_expiry_is_replaced_before_signing(svc: Services) -> None:
    alice = await make_user(svc)
    await svc.tokens.login(PASSWORD, username="alice")
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None and key.expires_at is not None
    assert abs((key.expires_at - key.created_at).total_seconds() - 90 * 86400) < 5  # type: ignore[operator]
    # Ten minutes left is less than a token's fifteen: the token would outlive its key.
    await repos_of(svc.db).keys.update(key.id, {"expires_at": svc.tokens.clock() + timedelta(minutes=10)})
    token = (await svc.tokens.login(PASSWORD, username="alice")).access_token
    replacement = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert replacement is not None and replacement.id != key.id
    assert (await svc.tokens.authenticate_access_token(token)).user.id == alice.id


async def test_rotation_ends_old_tokens_and_keeps_sessions(svc: Services) -> None:
    alice = await make_user(svc)
    pair = await svc.tokens.login(PASSWORD, username="alice")
    await svc.tokens.keys.rotate(alice.id)
    await expect_401(svc, pair.access_token)
    again = await svc.tokens.refresh(pair.refresh_token)
    assert (await svc.tokens.authenticate_access_token(again.access_token)).user.id == alice.id
    assert await repos_of(svc.db).keys.count({"user_id": alice.id}) == 1


async def test_concurrent_first_logins_share_one_key(svc: Services) -> None:
    alice = await make_user(svc)
    pairs = await asyncio.gather(*(svc.tokens.login(PASSWORD, username="alice") for _ in range(8)))
    assert await repos_of(svc.db).keys.count({"user_id": alice.id}) == 1
    for pair in pairs:
        assert (await svc.tokens.authenticate_access_token(pair.access_token)).user.id == alice.id


async def test_private_keys_are_sealed_and_a_flipped_byte_fails_loudly(svc: Services,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    alice = await make_user(svc)
    await svc.tokens.login(PASSWORD, username="alice")
    key = await repos_of(svc.db).keys.find_by_user(alice.id)
    assert key is not None and key.private_key.startswith("v1.") and "PRIVATE" not in key.private_key
    sessions_before = await repos_of(svc.db).sessions.count()
    blob = key.private_key
    position = len(blob) // 2
    tampered = blob[:position] + ("A" if blob[position] != "A" else "B") + blob[position + 1:]
    await repos_of(svc.db).keys.update(key.id, {"private_key": tampered})
    with pytest.raises(KeyIntegrityError) as caught:
        await svc.tokens.login(PASSWORD, username="alice")
    assert caught.value.status == 500
    assert "nothing was signed" in caplog.text
    assert await repos_of(svc.db).sessions.count() == sessions_before  # no session was started either


async def test_a_sealed_key_moved_to_another_user_does_not_open(svc: Services) -> None:
    alice = await make_user(svc, "alice")
    bob = await make_user(svc, "bob")
    await svc.tokens.login(PASSWORD, username="alice")
    await svc.tokens.login(PASSWORD, username="bob")
    alice_key = await repos_of(svc.db).keys.find_by_user(alice.id)
    bob_key = await repos_of(svc.db).keys.find_by_user(bob.id)
    assert alice_key and bob_key
    # Copy Alice's whole key pair onto Bob's row: the blob is bound to Alice's user id.
    await repos_of(svc.db).keys.update(bob_key.id, {"private_key": alice_key.private_key,
                                                "public_key": alice_key.public_key})
    with pytest.raises(KeyIntegrityError):
        await svc.tokens.login(PASSWORD, username="bob")
    # Only the private half moved: bound to the public key too.
    bob_key2 = await svc.tokens.keys.rotate(bob.id)
    await repos_of(svc.db).keys.update(bob_key2.id, {"private_key": alice_key.private_key})
    with pytest.raises(KeyIntegrityError):
        await svc.tokens.login(PASSWORD, username="bob")


async def test_wrong_master_key_fails_loudly_and_stops_start_up(settings: Settings, svc: Services) -> None:
    await make_user(svc)
    await svc.tokens.login(PASSWORD, username="alice")
    other_key = settings.data_dir / "other.key"
    other_key.write_text("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n")  # 32 bytes of 'A'
    settings.security.master_key_file = str(other_key)
    async with running_services(settings) as wrong:
        with pytest.raises(KeyIntegrityError):
            await wrong.tokens.login(PASSWORD, username="alice")
        with pytest.raises(ConfigError, match=r"^security\.master_key_file: "):
            await wrong.start_background(queue=False, ingest=False, schedules=False)
        # The way out: new key pairs for everyone under the new master key.
        assert await wrong.tokens.keys.rotate_all() == 1
        await wrong.tokens.keys.check_master_key()
        pair = await wrong.tokens.login(PASSWORD, username="alice")
        assert (await wrong.tokens.authenticate_access_token(pair.access_token)).user.username == "alice"


# ---- passwords and secrets at rest --------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["a" * 72, "😀" * 25, "비밀번호" * 8])
async def test_passwords_longer_than_72_bytes_count_in_full(svc: Services, prefix: str) -> None:
    assert len(prefix.encode()) >= 72
    await svc.accounts.create_user("alice", "alice@example.com", prefix + "X")
    assert await svc.tokens.login(prefix + "X", username="alice")
    with pytest.raises(Unauthorized):
        await svc.tokens.login(prefix + "Y", username="alice")
    with pytest.raises(Unauthorized):
        await svc.tokens.login(prefix, username="alice")


async def test_password_length_limits_are_clean_errors(svc: Services) -> None:
    with pytest.raises(ValidationError) as too_long:
        await svc.accounts.create_user("alice", "alice@example.com", "p" * 1025)
    assert too_long.value.code == "password_too_long"
    with pytest.raises(ValidationError):
        await svc.accounts.create_user("alice", "alice@example.com", "short")
    await svc.accounts.create_user("alice", "alice@example.com", "p" * 1024)
    assert await svc.tokens.login("p" * 1024, username="alice")
    with pytest.raises(Unauthorized):
        await svc.tokens.login("p" * 100_000, username="alice")
    with pytest.raises(Unauthorized):
        await svc.tokens.login("p" * 1024 + "\x00", username="alice")


async def dump_database(svc: Services) -> str:
    """Every value of every row of every table, as one string (what a stolen dump would show)."""
    if svc.db.dialect == "sqlite":
        tables = [r["name"] for r in await svc.db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")]
    else:
        tables = [r["tablename"] for r in await svc.db.fetch_all(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    out = []
    for table in tables:
        for row in await svc.db.fetch_all(f'SELECT * FROM "{table}"'):
            out.append(repr(row))
    return "\n".join(out)


async def test_no_secret_is_stored_in_plaintext(svc: Services) -> None:
    alice = await make_user(svc)
    api_key, _ = await svc.accounts.issue_api_key(alice.id, "uploader")
    first = await svc.tokens.login(PASSWORD, username="alice")
    second = await svc.tokens.refresh(first.refresh_token)
    key, private = await svc.tokens.keys.for_signing(alice.id, timedelta(0))
    from cryptography.hazmat.primitives import serialization

    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    dump = await dump_database(svc)
    assert "uploader" in dump and key.public_key.splitlines()[1] in dump  # the dump does hold the rows
    for secret in (api_key, api_key[len("kd_"):], first.refresh_token, second.refresh_token, PASSWORD,
                   raw.hex(), b64url(raw), first.access_token):
        assert secret not in dump
    assert hashlib.sha256(second.refresh_token.encode()).hexdigest() in dump
    assert hashlib.sha256(api_key.encode()).hexdigest() in dump


async def test_prepare_precomputes_the_dummy_hash(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdrama_tui.services.accounts import passwords

    monkeypatch.setattr(passwords, "_dummy_hashes", {})
    await svc.tokens.prepare()
    assert passwords.verify_password("anything", passwords._dummy_hashes[4]) is False
