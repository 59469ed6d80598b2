"""The all-in-one app on a seeded database, with everything that drifts pinned, for snapshot tests.

The server is real (started on mount inside the app's loop, as ``kdrama-tui run`` does); what the clock,
the disk and the process decide (uptime, free space, event times, random key prefixes, timestamps) is
frozen: the database rows are rewritten with fixed times, and the client pins the few figures that
only the machine knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kdrama_tui.config import Settings, load_settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.host import Host, Roles
from kdrama_tui.services.container import build_services
from kdrama_tui.tui.app import KdramaApp
from kdrama_tui.tui.client import AdminClient

FROZEN = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
FROZEN_TS = FROZEN.timestamp()
PUBLIC_URL = "http://drama.example.com:8080"


class FrozenClient(AdminClient):
    async def stats(self) -> dict[str, Any]:
        stats = await super().stats()
        stats["server"].update(started_at=FROZEN_TS - 2 * 86400 - 3 * 3600, uptime_seconds=2 * 86400 + 3 * 3600,
                               pid=4242)
        stats["disk"]["data_dir"].update(path="data", total=500 * 1024**3, used=180 * 1024**3, free=320 * 1024**3)
        stats["views"]["per_day"] = [{"date": f"d{i}", "views": v}
                                     for i, v in enumerate([3, 5, 2, 8, 13, 7, 9, 12, 4, 6, 15, 11, 10, 14])]
        stats["views"]["today"] = 14
        return stats

    async def stream(self, **kw: Any) -> AsyncIterator[dict[str, Any]]:
        async for item in super().stream(**kw):
            if item.get("kind") == "event":
                yield {**item, "ts": FROZEN_TS - 60 + item["id"]}
            elif item.get("kind") == "hello":
                yield item
            # log records carry ports and times: the snapshots leave them out


def snapshot_settings(workdir: Path) -> Settings:
    """Settings relative to ``workdir`` (the test chdirs there), so no temp path reaches the screen."""
    settings = load_settings(env={"KDRAMA_DATA_DIR": "data", "KDRAMA_SERVER_PUBLIC_URL": PUBLIC_URL,
                                  "KDRAMA_SECURITY_BCRYPT_ROUNDS": "4", "KDRAMA_INGEST_ENABLED": "false",
                                  "KDRAMA_BACKUP_ENABLED": "false"})
    settings.server.port = 0  # any free port: the address shown is the public URL
    return settings


async def seed(settings: Settings) -> None:
    svc = await build_services(settings)
    try:
        repos = repos_of(svc.db)
        accounts = svc.accounts
        root = await accounts.create_user("jiwoo", "jiwoo@example.com", "password123", "admin")
        mina = await accounts.create_user("mina", "mina@example.com", "password123")
        kang = await accounts.create_user("kang", "kang@example.com", "password123")
        await accounts.set_active(kang.id, False)
        for i, user in enumerate((root, mina, kang)):
            await repos.users.update(user.id, {"created_at": FROZEN - timedelta(days=30 - i),
                                               "updated_at": FROZEN, "last_login_at": FROZEN - timedelta(hours=i)})
        keys = [(root.id, "laptop", None), (mina.id, "nas uploader", 30.0), (mina.id, "old phone", None)]
        for i, (user_id, name, days) in enumerate(keys):
            _, key = await accounts.issue_api_key(user_id, name, days)
            await repos.api_keys.update(key.id, {
                "key_prefix": f"kd_Snap{i}Xy", "created_at": FROZEN - timedelta(days=10 - i),
                "expires_at": FROZEN + timedelta(days=days) if days else None,
                "last_used_at": FROZEN - timedelta(minutes=5 * (i + 1)) if i < 2 else None})
        await accounts.revoke_api_key(3)
        await repos.api_keys.update(3, {"revoked_at": FROZEN})
        titles = [("Crash Landing on You", "ready"), ("Goblin", "ready"), ("Signal", "ready"),
                  ("Reply 1988", "processing"), ("Kingdom", "failed")]
        videos = []
        for title, status in titles:
            video = await repos.videos.create({"title": title, "uploader_user_id": root.id, "status": status,
                                               "created_at": FROZEN, "updated_at": FROZEN})
            videos.append(video)
        await repos.jobs.create({"video_id": videos[3].id, "status": "processing", "provider": "local_server",
                                 "progress": 64, "started_at": FROZEN, "created_at": FROZEN})
        await repos.jobs.create({"video_id": videos[0].id, "status": "queued", "provider": "local_server",
                                 "created_at": FROZEN})
        await repos.uploads.create({"user_id": mina.id, "filename": "Our Blues E07.mkv", "total_size": 1_610_612_736,
                                    "total_chunks": 192, "uploaded_chunks": list(range(77)), "status": "uploading",
                                    "bytes_received": 77 * 8_388_608, "chunk_size": 8_388_608,
                                    "token": "snapshot0upload0token0000", "created_at": FROZEN - timedelta(minutes=12)})
        await repos.comments.create({"video_id": videos[1].id, "content": "The rain scene in episode 5!",
                                     "is_approved": False, "created_at": FROZEN - timedelta(minutes=30)})
        await repos.comments.create({"video_id": videos[0].id, "content": "Watching this for the third time.",
                                     "is_approved": False, "created_at": FROZEN - timedelta(minutes=90)})
        await repos.jobs.update(2, {"priority": 3})
        await repos.jobs.create({"video_id": videos[4].id, "status": "failed", "provider": "local_server",
                                 "error_message": "ffmpeg exited with status 1: moov atom not found",
                                 "created_at": FROZEN - timedelta(hours=2), "started_at": FROZEN - timedelta(hours=2),
                                 "completed_at": FROZEN - timedelta(hours=2)})
        goblin = await svc.series.create({"title": "Goblin", "native_title": "도깨비", "year": 2016, "network": "tvN",
                                          "genres": ["Fantasy", "Romance"], "alt_titles": ["Dokkaebi"]})
        await svc.series.attach(goblin.id, {"video_id": videos[1].id, "season": 1, "episode": 1})
        await svc.series.attach(goblin.id, {"video_id": videos[3].id, "season": 1, "episode": 3})
        await repos.video_files.create({"video_id": videos[0].id, "file_type": "original", "storage_provider": "local",
                                        "file_path": "originals/a/source.mkv", "file_size": 3_221_225_472,
                                        "checksum": "0" * 64, "created_at": FROZEN})
    finally:
        await svc.close()


def build_app(workdir: Path) -> KdramaApp:
    settings = snapshot_settings(workdir)
    asyncio.run(seed(settings))
    # No transcode queue: it would start on the seeded jobs (and fail, the originals being fake).
    return KdramaApp(system=Host(settings, Roles(queue=False, schedules=False)), clock=lambda: FROZEN_TS,
                     client_class=FrozenClient)
