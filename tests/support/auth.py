"""Helpers for the accounts/auth tests: fast services, users, controllable clocks and forged tokens."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from kdrama_tui.config import Settings
from kdrama_tui.models import User, utcnow
from kdrama_tui.services.container import Services, build_services

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[Services]:
    """Services on the test's database with cheap bcrypt (4 rounds)."""
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    try:
        yield svc
    finally:
        await svc.close()


async def make_user(svc: Services, username: str = "alice", password: str = PASSWORD, role: str = "user") -> User:
    return await svc.accounts.create_user(username, f"{username}@example.com", password, role)


class WallClock:
    """A datetime clock that follows real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class MonotonicClock:
    """A float clock for the login throttle that only moves when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def use_clock(svc: Services, clock: WallClock) -> None:
    svc.tokens.clock = clock
    svc.tokens.keys.clock = clock


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload))))


def valid_claims(svc: Services, user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    claims: dict[str, Any] = {
        "sub": str(user_id), "iat": now, "nbf": now, "exp": now + 600, "iss": svc.settings.security.jwt_issuer,
        "aud": svc.settings.security.jwt_audience, "typ": "access", "jti": "test-jti",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


async def forge(svc: Services, signer: User, claims: dict[str, Any], kid: int | None = None) -> str:
    """A token signed with ``signer``'s real private key (as a thief of that key, or a buggy issuer)."""
    key, private = await svc.tokens.keys.for_signing(signer.id, timedelta(minutes=1))
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": str(kid if kid is not None else key.id)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KDRAMA_")}
    env.update({"PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(data_dir), "KDRAMA_DATABASE_URL": database_url,
                "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4"})
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kdrama_tui", *args]
