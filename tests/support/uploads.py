"""Helpers and fixtures for upload tests (chunk API and tus), on both databases.

Import the fixtures into a test module: ``from tests.support.uploads import svc, client, vip, other``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services


@dataclass
class Account:
    user_id: int
    username: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


async def make_account(svc: Services, username: str, role: str = "user") -> Account:
    user = await svc.accounts.create_user(username, f"{username}@example.com", "correct horse battery", role)
    key, _ = await svc.accounts.issue_api_key(user.id)
    return Account(user.id, username, key)


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture
async def client(svc: Services, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(svc))


@pytest.fixture
async def vip(svc: Services) -> Account:
    return await make_account(svc, "vip_uploader")


@pytest.fixture
async def other(svc: Services) -> Account:
    return await make_account(svc, "someone_else")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(size: int, seed: int = 1) -> bytes:
    """Incompressible test data, the same for the same seed."""
    out = bytearray()
    block = hashlib.sha256(f"seed-{seed}".encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 32  # 1 KiB per round keeps this quick for a few MiB
    return bytes(out[:size])


def write_random_file(path: Path, size: int) -> str:
    """A file of ``size`` random bytes; returns its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            digest.update(block)
            f.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def chunks_of(data: bytes, chunk_size: int) -> list[bytes]:
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


async def create_upload(client: TestClient, account: Account, data: bytes, total_chunks: int,
                        **extra: Any) -> dict[str, Any]:
    body = {"filename": "episode01.mkv", "total_size": len(data), "total_chunks": total_chunks,
            "metadata": {"title": "Episode 1"}, **extra}
    response = await client.post("/api/uploads", json=body, headers=account.headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def put_chunk(client: TestClient, account: Account, upload_id: int, number: int | str, body: bytes,
                    checksum: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {**account.headers, "X-Chunk-SHA256": checksum if checksum is not None else sha256(body)}
    response = await client.put(f"/api/uploads/{upload_id}/chunks/{number}", data=body, headers=headers)
    return response.status, await response.json()


async def upload_all(client: TestClient, account: Account, upload: dict[str, Any], data: bytes,
                     order: list[int] | None = None, parallel: int = 4) -> None:
    parts = chunks_of(data, upload["chunk_size"])
    order = order if order is not None else list(range(len(parts)))
    gate = asyncio.Semaphore(parallel)

    async def one(n: int) -> None:
        async with gate:
            status, body = await put_chunk(client, account, upload["id"], n, parts[n])
            assert status == 200, body

    await asyncio.gather(*(one(n) for n in order))


async def original_bytes(svc: Services, video_id: int) -> bytes:
    files = await repos_of(svc.db).video_files.find_by_video(video_id, "original")
    assert len(files) == 1
    path = svc.storage.local_path(files[0].file_path)
    assert path is not None
    return path.read_bytes()


def upload_folders(svc: Services) -> list[str]:
    root = svc.settings.uploads_dir
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
