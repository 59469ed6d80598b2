"""What the admin API adds on top of the other services: dashboard figures and guarded account changes."""

from __future__ import annotations

import asyncio
import os
import shutil
import time as _time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdrama_tui import __version__
from kdrama_tui.errors import Conflict, ValidationError
from kdrama_tui.models import ApiKey, User, utcnow
from kdrama_tui.services import passwords
from kdrama_tui.services.accounts import ROLES

if TYPE_CHECKING:
    from kdrama_tui.services.container import Services

SPARKLINE_DAYS = 14


def _disk(path: Path) -> dict[str, Any]:
    """Usage of the filesystem holding ``path`` (the nearest existing parent when it is not there yet)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return {"path": str(path), "error": exc.strerror or str(exc)}
    return {"path": str(path), "total": usage.total, "used": usage.used, "free": usage.free}


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def upload_progress(upload: Any) -> dict[str, Any]:
    """Received bytes and a 0-100 percentage from the verified chunk numbers of a session."""
    total = max(int(upload.total_size), 0)
    chunks = max(int(upload.total_chunks), 1)
    done = len(set(upload.uploaded_chunks or []))
    chunk_size = -(-total // chunks) if total else 0  # ceil, as CONTRACT.md defines chunk_size
    received = min(done * chunk_size, total)
    percent = 100.0 if total == 0 and done else (100.0 * received / total if total else 0.0)
    return {"received_bytes": received, "chunks_done": done, "percent": round(percent, 1)}


class AdminService:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    @property
    def repos(self) -> Any:
        return self.svc.db.repos

    # ---- dashboard ---------------------------------------------------------------------------------
    async def stats(self, address: str) -> dict[str, Any]:
        repos = self.repos
        now = utcnow()
        first_day = now.date() - timedelta(days=SPARKLINE_DAYS - 1)
        since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
        videos = await repos.stats.count_by("videos", "status")
        jobs = await repos.stats.count_by("transcoding_jobs", "status")
        per_day = await repos.stats.views_per_day(since)
        days = [(first_day + timedelta(days=i)).isoformat() for i in range(SPARKLINE_DAYS)]
        uploads = await self.list_uploads(limit=20)
        active_jobs = await repos.stats.active_jobs(limit=20)
        stored = await repos.stats.stored_bytes()
        settings = self.svc.settings
        data_disk, media_disk = await asyncio.to_thread(
            lambda: (_disk(settings.data_dir), _disk(settings.media_root)))
        disk: dict[str, Any] = {"data_dir": data_disk, "storage": {
            "provider": self.svc.storage.provider, "by_provider": stored,
            "bytes": sum(v["bytes"] for v in stored.values()), "files": sum(v["files"] for v in stored.values()),
        }}
        if settings.storage.provider == "local" and not _same_filesystem(settings.data_dir, settings.media_root):
            disk["media_root"] = media_disk
        return {
            "server": {"address": address, "version": __version__, "database": self.svc.db.dialect,
                       "started_at": self.svc.started_at,
                       "uptime_seconds": max(0.0, _time.time() - self.svc.started_at), "pid": os.getpid()},
            "videos": {"by_status": videos, "total": sum(videos.values())},
            "jobs": {"by_status": jobs, "active": [
                {"id": job.id, "video_id": job.video_id, "title": title, "progress": job.progress,
                 "priority": job.priority} for job, title in active_jobs]},
            "queue_length": jobs.get("queued", 0),
            "uploads": {"active": len(uploads), "items": uploads},
            "disk": disk,
            "views": {"today": per_day.get(now.date().isoformat(), 0),
                      "per_day": [{"date": d, "views": per_day.get(d, 0)} for d in days]},
        }

    async def list_uploads(self, limit: int = 200) -> list[dict[str, Any]]:
        items = []
        for upload, uploader in await self.repos.stats.active_uploads(limit):
            row = upload.to_dict()
            row.pop("uploaded_chunks", None)
            items.append({**row, "uploader": uploader, **upload_progress(upload)})
        return items

    async def video_detail(self, video_id: int) -> dict[str, Any]:
        """Everything about one video the admin may want: files, renditions, jobs, views, comments."""
        repos = self.repos
        video = await repos.videos.get(video_id)
        files = await repos.video_files.find_by_video(video_id)
        jobs = await repos.jobs.find_by_video(video_id)
        renditions = sorted({f.file_type.removeprefix("transcoded_") for f in files
                             if f.file_type.startswith("transcoded_")})
        subtitles = sorted({f.language or "?" for f in files if f.file_type == "subtitle"})
        week_ago = utcnow() - timedelta(days=7)
        views_week = await repos.stats.views_since(video_id, week_ago)
        return {
            "video": video.to_dict(),
            "renditions": renditions,
            "subtitles": subtitles,
            "files": [f.to_dict() for f in files],
            "stored_bytes": sum(f.file_size for f in files),
            "jobs": [j.to_dict() for j in jobs],
            "views": {"total": await repos.analytics.count({"video_id": video_id}), "last_7_days": views_week},
            "comments": {"total": await repos.comments.count({"video_id": video_id}),
                         "pending": await repos.comments.count({"video_id": video_id, "is_approved": False})},
        }

    async def list_comments(self, state: str = "pending", limit: int = 500) -> list[dict[str, Any]]:
        states: dict[str, bool | None] = {"pending": False, "approved": True, "all": None}
        if state not in states:
            raise ValidationError("state must be pending, approved or all", code="invalid_parameter")
        rows = await self.repos.stats.comments(states[state], limit)
        return [{**c.to_dict(), "video_title": title, "author": author} for c, title, author in rows]

    # ---- accounts ----------------------------------------------------------------------------------
    async def update_user(self, user_id: int, changes: dict[str, Any]) -> User:
        """Apply role / is_active / password changes; never leaves the site without an active admin."""
        allowed = {"role", "is_active", "password"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", code="invalid_field")
        if not changes:
            raise ValidationError("nothing to change: give role, is_active or password", code="invalid_input")
        if "is_active" in changes and not isinstance(changes["is_active"], bool):
            raise ValidationError("is_active must be true or false")
        if "role" in changes and changes["role"] not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        if "password" in changes:
            passwords.validate_password(changes["password"])  # before anything changes
        accounts = self.svc.accounts
        user = await accounts.get_user(user_id)
        loses_admin = user.is_admin and user.is_active and (
            changes.get("role", user.role) != "admin" or changes.get("is_active", True) is False)
        if loses_admin and await self.repos.users.count({"role": "admin", "is_active": True}) <= 1:
            raise Conflict("this is the last active admin; make another admin first", code="last_admin")
        if "password" in changes:
            user = await accounts.set_password(user_id, changes["password"])
        if "role" in changes and changes["role"] != user.role:
            user = await accounts.set_role(user_id, changes["role"])
        if "is_active" in changes and changes["is_active"] != user.is_active:
            user = await accounts.set_active(user_id, changes["is_active"])
        return user

    async def list_api_keys(self, user_id: int | None = None) -> list[dict[str, Any]]:
        names = {u.id: u.username for u in await self.svc.accounts.list_users()}
        keys: list[ApiKey] = await self.svc.accounts.list_api_keys(user_id)
        return [{**k.public_dict(), "username": names.get(k.user_id, "?")} for k in keys]
