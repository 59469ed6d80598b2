"""Accounts: users, roles, passwords and API keys.

API keys are ``kd_`` + 256 random bits. Only their SHA-256 hash is stored: a database dump holds nothing a
caller could present, and because the lookup is by hash of the presented secret, timing reveals nothing
about stored keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from kdrama_tui.db import Database
from kdrama_tui.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from kdrama_tui.events import EventBus
from kdrama_tui.models import ApiKey, User, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts import passwords

ROLES = ("admin", "user")
API_KEY_PREFIX = "kd_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,50}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling, and how they proved it."""

    user: User
    via: str  # "jwt", "api_key" or "local" (the in-process dashboard)
    api_key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccountService:
    def __init__(self, db: Database, events: EventBus, bcrypt_rounds: int = 12) -> None:
        self.db = db
        self.events = events
        self.bcrypt_rounds = bcrypt_rounds

    # ---- users -------------------------------------------------------------------------------------
    async def create_user(self, username: str, email: str, password: str, role: str = "user") -> User:
        username, email = (username or "").strip(), (email or "").strip()
        if not _USERNAME.match(username):
            raise ValidationError("username must be 3-50 letters, digits, '.', '_' or '-'", code="invalid_username")
        if not _EMAIL.match(email) or len(email) > 100:
            raise ValidationError("email address is not valid", code="invalid_email")
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        password_hash = await asyncio.to_thread(passwords.hash_password, password, self.bcrypt_rounds)
        if await repos_of(self.db).users.find_by_email(email):
            raise Conflict("email already exists", code="already_exists", details={"field": "email"})
        user = await repos_of(self.db).users.create(
            {"username": username, "email": email, "password_hash": password_hash, "role": role})
        self.events.publish("user.created", user_id=user.id, username=user.username, role=user.role)
        return user

    async def get_user(self, user_id: int) -> User:
        return await repos_of(self.db).users.get(user_id)

    async def find_user(self, login: str) -> User:
        """By username, or by email when the login holds an '@'."""
        repo = repos_of(self.db).users
        user = await (repo.find_by_email(login) if "@" in login else repo.find_by_username(login))
        if user is None:
            raise NotFound(f"no user {login!r}", code="user_not_found")
        return user

    async def list_users(self) -> list[User]:
        return await repos_of(self.db).users.list(order_by="id")

    async def set_role(self, user_id: int, role: str) -> User:
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        user = await repos_of(self.db).users.update(user_id, {"role": role})
        if user is None:
            raise NotFound("user not found")
        self.events.publish("user.updated", user_id=user.id, role=role)
        return user

    async def set_active(self, user_id: int, active: bool) -> User:
        async with self.db.transaction() as tx:
            user = await repos_of(tx).users.update(user_id, {"is_active": active})
            if user is None:
                raise NotFound("user not found")
            if not active:
                await repos_of(tx).sessions.revoke_user(user_id, utcnow())
                await repos_of(tx).keys.deactivate_user(user_id)
        self.events.publish("user.updated", user_id=user_id, is_active=active)
        return user

    async def set_password(self, user_id: int, password: str) -> User:
        password_hash = await asyncio.to_thread(passwords.hash_password, password, self.bcrypt_rounds)
        async with self.db.transaction() as tx:
            user = await repos_of(tx).users.update(user_id, {"password_hash": password_hash})
            if user is None:
                raise NotFound("user not found")
            # A new password logs out everywhere: refresh sessions are revoked, and retiring the signing key
            # ends the access tokens it signed now rather than when they expire.
            await repos_of(tx).sessions.revoke_user(user_id, utcnow())
            await repos_of(tx).keys.deactivate_user(user_id)
        self.events.publish("user.password_changed", user_id=user_id)
        return user

    async def check_password(self, login: str, password: str, *, field: str | None = None) -> User:
        """The user whose password this is; the same error and cost whether the user exists or not.

        ``field`` says what ``login`` is ("username" or "email"); by default an '@' means an email.
        """
        repo = repos_of(self.db).users
        login = login or ""
        by_email = field == "email" if field is not None else "@" in login
        user = await (repo.find_by_email(login) if by_email else repo.find_by_username(login))
        stored = user.password_hash if user else passwords.dummy_hash(self.bcrypt_rounds)
        ok = await asyncio.to_thread(passwords.verify_password, password or "", stored)
        if user is None or not ok:
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        if not user.is_active:
            raise Forbidden("this account is deactivated", code="account_inactive")
        return user

    # ---- API keys ----------------------------------------------------------------------------------
    async def issue_api_key(self, user_id: int, name: str = "", expires_days: float | None = None
                            ) -> tuple[str, ApiKey]:
        """Create a key; the plaintext is returned once and never stored."""
        user = await repos_of(self.db).users.get(user_id)
        if not user.is_active:
            raise Conflict("cannot issue a key to a deactivated user", code="account_inactive")
        if expires_days is not None and expires_days <= 0:
            raise ValidationError("expires_days must be positive", code="invalid_expiry")
        if len(name) > 100:
            raise ValidationError("name must be at most 100 characters")
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
        key = await repos_of(self.db).api_keys.create({
            "user_id": user_id, "api_key": hash_secret(plaintext), "name": name,
            "key_prefix": plaintext[:10], "expires_at": expires_at,
        })
        self.events.publish("api_key.issued", key_id=key.id, user_id=user_id, name=name)
        return plaintext, key

    async def list_api_keys(self, user_id: int | None = None) -> list[ApiKey]:
        filters = {"user_id": user_id} if user_id is not None else {}
        return await repos_of(self.db).api_keys.list(filters, order_by="id")

    async def revoke_api_key(self, key_id: int) -> ApiKey:
        key = await repos_of(self.db).api_keys.update(key_id, {"is_active": False, "revoked_at": utcnow()})
        if key is None:
            raise NotFound("API key not found")
        self.events.publish("api_key.revoked", key_id=key_id, user_id=key.user_id)
        return key

    async def authenticate_api_key(self, plaintext: str) -> Principal:
        if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 200:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        key = await repos_of(self.db).api_keys.find_by_key(hash_secret(plaintext))
        now = utcnow()
        if key is None:
            raise Unauthorized("invalid API key", code="invalid_api_key")
        if not key.is_active:
            raise Unauthorized("this API key was revoked", code="api_key_revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized("this API key has expired", code="api_key_expired")
        user = await repos_of(self.db).users.find_by_id(key.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("the account of this API key is deactivated", code="account_inactive")
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
            await repos_of(self.db).api_keys.update(key.id, {"last_used_at": now})
        return Principal(user=user, via="api_key", api_key_id=key.id)
