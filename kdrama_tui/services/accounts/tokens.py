"""Login, access tokens and refresh-token sessions.

Access tokens are JWTs signed with EdDSA by the user's own key (:mod:`signing_keys`), valid for
``security.access_token_minutes``; verification pins the algorithm, takes the key from the ``kid`` header,
requires the key's owner to be the ``sub``, and checks exp/nbf/iat/iss/aud/typ and that the account is
active.

Refresh tokens are 256 random bits, stored only as a SHA-256 hash in ``user_sessions``. A login starts a
*family*; every refresh retires the presented row and adds its replacement to the family, with a fresh
``security.refresh_token_days`` lifetime (sliding: a session used at least that often stays alive).
Presenting a retired token again is treated as theft: the whole family is revoked and both the thief and
the owner must log in again (OAuth 2.0 Security BCP, refresh token rotation).

Two simultaneous refreshes with the same token follow the same rule, deliberately, with no grace period:
the first one wins, the second finds the token already retired, and revokes the family, including the
token the first one just received. A grace window would have to let one refresh token mint two live ones,
which is exactly what reuse detection exists to prevent; a client that refreshes from several tabs at once
must serialise its refreshes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from kdrama_tui.config import SecuritySettings
from kdrama_tui.db import Database
from kdrama_tui.errors import Unauthorized, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import User, UserSession, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.service import AccountService, Principal, hash_secret, passwords
from kdrama_tui.services.accounts.signing_keys import ALLOWED_ALGORITHMS, SigningKeys, public_key_from_pem
from kdrama_tui.services.accounts.throttle import LoginThrottle

log = logging.getLogger(__name__)

ACCESS_TYPE = "access"
_REQUIRED_CLAIMS = ["sub", "iat", "nbf", "exp", "iss", "aud", "typ", "jti"]
_MAX_TOKEN_LENGTH = 4096
_MAX_REFRESH_LENGTH = 200


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (a scheme name, not a secret)

    def to_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": self.token_type, "expires_in": self.expires_in}


def _invalid_token() -> Unauthorized:
    return Unauthorized("invalid access token", code="invalid_token")


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("invalid or expired refresh token; log in again", code="invalid_refresh_token")


class TokenService:
    def __init__(self, db: Database, events: EventBus, accounts: AccountService, keys: SigningKeys,
                 security: SecuritySettings, *, throttle: LoginThrottle | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.events = events
        self.accounts = accounts
        self.keys = keys
        self.security = security
        self.throttle = throttle or LoginThrottle(security.login_max_failures, security.login_window_seconds)
        self.clock = clock
        self.access_seconds = max(1, round(security.access_token_minutes * 60))
        self.refresh_lifetime = timedelta(days=security.refresh_token_days)

    async def prepare(self) -> None:
        """Before serving: refuse a master key that cannot open the stored keys, and compute the dummy
        password hash now, so the first login for an unknown user is not slower than for a real one."""
        await self.keys.check_master_key()
        await asyncio.to_thread(passwords.dummy_hash, self.accounts.bcrypt_rounds)

    # ---- login / refresh / logout ------------------------------------------------------------------
    async def login(self, password: str, *, username: str | None = None, email: str | None = None,
                    ip: str | None = None, user_agent: str | None = None) -> TokenPair:
        """Check a password (throttled per account and per address) and start a session."""
        login, field = (email, "email") if email is not None else (username, "username")
        if not isinstance(login, str) or not login.strip():
            raise ValidationError("give a username or an email", code="invalid_input")
        if not isinstance(password, str) or not password:
            raise ValidationError("give a password", code="invalid_input")
        keys = self.throttle.keys(login, ip)
        self.throttle.check(keys)
        try:
            user = await self.accounts.check_password(login.strip(), password, field=field)
        except Unauthorized:
            self.throttle.record_failure(keys)
            self.events.publish("user.login_failed", login=login[:100], ip=ip)
            raise
        self.throttle.forget(keys[0])
        pair = await self._start_session(user, ip, user_agent)
        self.events.publish("user.logged_in", user_id=user.id, username=user.username, ip=ip)
        return pair

    async def start_session(self, user: User, ip: str | None = None, user_agent: str | None = None) -> TokenPair:
        """A new session for an already authenticated user (a new refresh-token family)."""
        return await self._start_session(user, ip, user_agent)

    async def _start_session(self, user: User, ip: str | None, user_agent: str | None) -> TokenPair:
        access = await self.issue_access_token(user)
        now = self.clock()
        refresh = secrets.token_urlsafe(32)
        async with self.db.transaction() as tx:
            await repos_of(tx).sessions.create(self._session_row(user.id, refresh, secrets.token_hex(16), now,
                                                             ip, user_agent))
            await repos_of(tx).users.update(user.id, {"last_login_at": now})
        return TokenPair(access, refresh, self.access_seconds)

    def _session_row(self, user_id: int, refresh: str, family_id: str, now: datetime, ip: str | None,
                     user_agent: str | None) -> dict[str, Any]:
        return {"user_id": user_id, "refresh_token": hash_secret(refresh), "family_id": family_id,
                "expires_at": now + self.refresh_lifetime, "created_at": now,
                "ip_address": (ip or None) and ip[:45], "user_agent": (user_agent or None) and user_agent[:500]}

    async def refresh(self, refresh_token: str, *, ip: str | None = None,
                      user_agent: str | None = None) -> TokenPair:
        """Exchange a refresh token for a new pair; the presented token is retired."""
        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > _MAX_REFRESH_LENGTH:
            raise _invalid_refresh()
        token_hash = hash_secret(refresh_token)
        seen = await repos_of(self.db).sessions.find_by_token(token_hash)
        if seen is None:
            raise _invalid_refresh()
        user = await repos_of(self.db).users.find_by_id(seen.user_id)
        if user is None or not user.is_active:
            raise _invalid_refresh()
        # Sign first: the key may have to be created, which takes its own transaction.
        access = await self.issue_access_token(user)
        now = self.clock()
        new_refresh = secrets.token_urlsafe(32)
        outcome = "ok"
        async with self.db.transaction() as tx:
            session = await repos_of(tx).sessions.find_by_token(token_hash)
            if session is None:
                outcome = "unknown"
            elif session.replaced_by_id is not None:
                outcome = "reused"
            elif session.revoked_at is not None:
                outcome = "revoked"
            elif session.expires_at <= now:
                outcome = "expired"
            elif not await repos_of(tx).sessions.claim(session.id, now):
                outcome = "reused"  # a concurrent refresh of the same token won
            else:
                created = await repos_of(tx).sessions.create(
                    self._session_row(user.id, new_refresh, session.family_id, now, ip, user_agent))
                await repos_of(tx).sessions.mark_replaced(session.id, created.id)
            if outcome == "reused":
                assert session is not None
                await repos_of(tx).sessions.revoke_family(session.family_id, now)
        if outcome == "reused":
            self._report_reuse(session, ip)
        if outcome != "ok":
            raise _invalid_refresh()
        return TokenPair(access, new_refresh, self.access_seconds)

    def _report_reuse(self, session: UserSession | None, ip: str | None) -> None:
        assert session is not None
        log.warning("refresh token reuse for user %d (family %s…, from %s): the session family was revoked",
                    session.user_id, session.family_id[:8], ip or "?")
        self.events.publish("user.session_reuse_detected", user_id=session.user_id, ip=ip)

    async def logout(self, refresh_token: str) -> None:
        """End the session (the token's whole family). Unknown tokens are ignored: logging out is idempotent."""
        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > _MAX_REFRESH_LENGTH:
            return
        session = await repos_of(self.db).sessions.find_by_token(hash_secret(refresh_token))
        if session is None:
            return
        if await repos_of(self.db).sessions.revoke_family(session.family_id, self.clock()):
            self.events.publish("user.logged_out", user_id=session.user_id)

    # ---- access tokens -----------------------------------------------------------------------------
    async def issue_access_token(self, user: User) -> str:
        key, private = await self.keys.for_signing(user.id, min_remaining=timedelta(seconds=self.access_seconds))
        issued = int(self.clock().timestamp())
        claims = {
            "sub": str(user.id), "iat": issued, "nbf": issued, "exp": issued + self.access_seconds,
            "iss": self.security.jwt_issuer, "aud": self.security.jwt_audience, "typ": ACCESS_TYPE,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, private, algorithm=key.algorithm, headers={"kid": str(key.id)})

    async def authenticate_access_token(self, token: str) -> Principal:
        """The caller an access token proves, or 401 (invalid_token / token_expired / account_inactive)."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            raise _invalid_token()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _invalid_token() from None
        kid = header.get("kid")
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(kid, str) \
                or not kid.isascii() or not kid.isdigit() or len(kid) > 18:
            raise _invalid_token()
        found = await self.keys.verification_key(int(kid))
        if found is None:
            raise _invalid_token()
        key, user = found
        try:
            claims = jwt.decode(
                token, public_key_from_pem(key.public_key), algorithms=[key.algorithm],
                audience=self.security.jwt_audience, issuer=self.security.jwt_issuer,
                subject=str(key.user_id),  # the key must belong to the token's subject
                options={"require": _REQUIRED_CLAIMS, "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired; refresh it", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise _invalid_token() from None
        if claims.get("typ") != ACCESS_TYPE:
            raise _invalid_token()
        if not user.is_active:
            raise Unauthorized("this account is deactivated", code="account_inactive")
        return Principal(user=user, via="jwt")
