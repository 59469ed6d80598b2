"""Helpers for the backup tests: a library with data, and a comparable dump of the database's content."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings
from kdrama_tui.db import Database, open_database
from kdrama_tui.repositories import repos_of

TABLES = ("users", "videos", "video_files", "api_keys", "comments")


async def fill(db: Database, users: int = 3, videos: int = 4) -> None:
    for u in range(users):
        user = await repos_of(db).users.create({"username": f"user{u}{os.urandom(2).hex()}", "password_hash": "h",
                                            "email": f"u{u}{os.urandom(2).hex()}@example.com"})
        for v in range(videos):
            video = await repos_of(db).videos.create({"title": f"Drama {u}-{v} 사랑", "uploader_user_id": user.id,
                                                  "status": "ready", "actors": ["Kim", "Lee"], "year": 2020 + v})
            await repos_of(db).video_files.create({
                "video_id": video.id, "file_type": "original", "storage_provider": "local",
                "file_path": f"originals/{os.urandom(4).hex()}/source.mkv", "file_size": 123,
                "checksum": os.urandom(32).hex()})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() if value.tzinfo else value.isoformat()
    return value


async def content(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the main tables, comparable across a restore."""
    db = await open_database(url, migrate=False)
    try:
        return {t: [{k: _plain(v) for k, v in row.items()}
                    for row in await db.fetch_all(f"SELECT * FROM {t} ORDER BY id")] for t in TABLES}
    finally:
        await db.close()


def write_master_key(settings: Settings, data: bytes | None = None) -> bytes:
    data = data or os.urandom(32)
    path: Path = settings.master_key_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)
    return data
