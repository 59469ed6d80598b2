"""What the admin API adds on top of the other services: dashboard figures and guarded account changes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdrama_tui import __version__
from kdrama_tui.db import open_database
from kdrama_tui.errors import Conflict, DomainError, ValidationError
from kdrama_tui.models import ApiKey, User, utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.service import ROLES, passwords
from kdrama_tui.services.backup.names import BACKUP_HOLDS
from kdrama_tui.services.backup.names import parse_name as parse_backup_name
from kdrama_tui.services.cluster.singletons import cluster_status

if TYPE_CHECKING:
    from kdrama_tui.config import Settings
    from kdrama_tui.db.base import Database
    from kdrama_tui.services.accounts.service import AccountService
    from kdrama_tui.services.backup.service import BackupService
    from kdrama_tui.services.catalog.analytics import AnalyticsService
    from kdrama_tui.services.maintenance.reconcile import MediaReconciler
    from kdrama_tui.services.playback.audience import Audience
    from kdrama_tui.services.uploads.service import UploadService
    from kdrama_tui.storage.base import Storage

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


class AdminService:
    """Takes the services it sums up, not the container that holds it (no circle between the two)."""

    def __init__(self, *, settings: Settings, db: Database, storage: Storage, accounts: AccountService,
                 analytics: AnalyticsService, backups: BackupService, uploads: UploadService,
                 started_at: float, audience: Audience | None = None,
                 reconciler: MediaReconciler | None = None) -> None:
        self.settings, self.db, self.storage = settings, db, storage
        self.accounts, self.analytics, self.backups, self.uploads = accounts, analytics, backups, uploads
        self.started_at = started_at
        self.audience = audience
        self.reconciler = reconciler
        self.media_check: dict[str, Any] | None = None  # the last check of ready videos' files (at start-up)
        self._backup_task: asyncio.Task[None] | None = None

    @property
    def repos(self) -> Any:
        return repos_of(self.db)

    # ---- dashboard ---------------------------------------------------------------------------------
    async def stats(self, address: str) -> dict[str, Any]:
        repos = self.repos
        videos = await repos.stats.count_by("videos", "status")
        jobs = await repos.stats.count_by("transcoding_jobs", "status")
        per_day = await self.analytics.views_per_day(SPARKLINE_DAYS)  # UTC days, oldest first
        uploads = await self.list_uploads(limit=20)
        active_jobs = await repos.stats.active_jobs(limit=20)
        stored = await repos.stats.stored_bytes()
        settings = self.settings
        data_disk, media_disk = await asyncio.to_thread(
            lambda: (_disk(settings.data_dir), _disk(settings.media_root)))
        disk: dict[str, Any] = {"data_dir": data_disk, "storage": {
            "provider": self.storage.provider, "by_provider": stored,
            "bytes": sum(v["bytes"] for v in stored.values()), "files": sum(v["files"] for v in stored.values()),
        }}
        if settings.storage.provider == "local" and not _same_filesystem(settings.data_dir, settings.media_root):
            disk["media_root"] = media_disk
        return {
            "server": {"address": address, "version": __version__, "database": self.db.dialect,
                       "started_at": self.started_at,
                       "uptime_seconds": max(0.0, _time.time() - self.started_at), "pid": os.getpid()},
            "videos": {"by_status": videos, "total": sum(videos.values())},
            "jobs": {"by_status": jobs, "active": [
                {"id": job.id, "video_id": job.video_id, "title": title, "progress": job.progress,
                 "priority": job.priority} for job, title in active_jobs]},
            "queue_length": jobs.get("queued", 0),
            "uploads": {"active": len(uploads), "items": uploads},
            "viewers": self.viewers(),
            "disk": disk,
            "views": {"today": per_day[-1]["views"],
                      "per_day": [{"date": d["day"], "views": d["views"]} for d in per_day]},
            "cluster": await cluster_status(self.db, settings.node_name),
        }

    def viewers(self) -> dict[str, Any]:
        """Viewers right now (addresses that fetched HLS files in the last minute), when known."""
        if self.audience is None:
            return {"active": 0, "window_seconds": 0, "by_video": {}}
        return self.audience.now()

    async def list_uploads(self, limit: int = 200) -> list[dict[str, Any]]:
        """Unfinished upload sessions, oldest first, with live progress (bytes in flight included)."""
        items = await self.uploads.list_active()
        items.sort(key=lambda u: (u.get("created_at") or "", u["id"]))
        return [{**u, "uploader": u.get("username")} for u in items[:limit]]

    async def abort_upload(self, admin: User, upload_id: int) -> dict[str, Any]:
        upload = await self.uploads.abort(admin, upload_id)
        return self.uploads.view(upload)

    async def video_detail(self, video_id: int) -> dict[str, Any]:
        """Everything about one video the admin may want: files, renditions, jobs, views, comments."""
        repos = self.repos
        video = await repos.videos.get(video_id)
        files = await repos.video_files.find_by_video(video_id)
        jobs = await repos.jobs.find_by_video(video_id)
        renditions = sorted({f.file_type.removeprefix("transcoded_") for f in files
                             if f.file_type.startswith("transcoded_")})
        subtitles = sorted({f.language or "?" for f in files if f.file_type == "subtitle"})
        week = await self.analytics.views_per_day(7, video_id)
        totals = await self.analytics.views_for_video(video_id)
        return {
            "video": video.to_dict(),
            "renditions": renditions,
            "subtitles": subtitles,
            "files": [f.to_dict() for f in files],
            "stored_bytes": sum(f.file_size for f in files),
            "jobs": [j.to_dict() for j in jobs],
            "views": {"total": totals["views"], "last_7_days": sum(d["views"] for d in week),
                      "watch_seconds": totals["watch_seconds"], "viewers": totals["viewers"]},
            "comments": {"total": await repos.comments.count({"video_id": video_id}),
                         "pending": await repos.comments.count({"video_id": video_id, "is_approved": False})},
        }

    async def list_comments(self, state: str = "pending", limit: int = 500) -> list[dict[str, Any]]:
        states: dict[str, bool | None] = {"pending": False, "approved": True, "all": None}
        if state not in states:
            raise ValidationError("state must be pending, approved or all", code="invalid_parameter")
        rows = await self.repos.stats.comments(states[state], limit)
        return [{**c.to_dict(), "video_title": title, "author": author} for c, title, author in rows]

    # ---- backups -----------------------------------------------------------------------------------
    @property
    def backup_running(self) -> bool:
        return self._backup_task is not None and not self._backup_task.done()

    async def list_backups(self) -> dict[str, Any]:
        backups = self.backups
        warning = None
        try:
            items = await backups.list_backups(cloud=True)
        except DomainError as exc:  # an unreachable cloud must not hide the local backups
            items, warning = await backups.list_backups(cloud=False), f"cloud backups not listed: {exc.message}"
        daily, weekly = backups.last_runs()
        settings = self.settings.backup
        return {
            "items": [b.to_dict() for b in items], "running": self.backup_running, "warning": warning,
            "holds": BACKUP_HOLDS, "last_restore": await asyncio.to_thread(backups.last_restore),
            "media_check": self.media_check,
            "cloud_configured": backups.cloud_configured, "cloud_ready": backups.cloud_ready,
            "schedule": {"enabled": settings.enabled, "daily_at": settings.daily_at, "weekly_on": settings.weekly_on,
                         "last_daily": daily.isoformat() if daily else None,
                         "last_weekly": weekly.isoformat() if weekly else None},
        }

    def start_backup(self, cloud: bool) -> None:
        """Run a backup in the background; its progress and end arrive as backup.* events."""
        if self.backup_running:
            raise Conflict("a backup is already running", code="backup_running")

        async def run() -> None:
            with contextlib.suppress(Exception):  # the backup service logs and publishes backup.failed
                await self.backups.run_backup(cloud=cloud)

        self._backup_task = asyncio.create_task(run(), name="backup.manual")

    async def restore(self, name: str) -> dict[str, Any]:
        """Restore a listed backup (by name) into this running server's database; it must restart after."""
        if not isinstance(name, str) or parse_backup_name(name, "local", 0) is None:
            raise ValidationError("name must be one of the listed backups (kdrama-backup-….tar…)",
                                  code="invalid_backup_name")
        if self.backup_running:
            raise Conflict("a backup is running; restore when it has finished", code="backup_running")
        # The server serving this folder is this very process, which restarts right after; other nodes of a
        # cluster still stop the restore.
        result = (await self.backups.restore(name, from_server=True)).to_dict()
        result["reconciled"] = await self.reconcile_restored()
        await asyncio.to_thread(self.backups.save_last_restore, result)
        return result

    async def reconcile_restored(self) -> dict[str, Any] | None:
        """Check the restored database's ready videos against the storage (a backup holds no media).

        On a fresh connection: this process's pool may still read the replaced SQLite file until the restart."""
        if self.reconciler is None:
            return None
        restored = await open_database(self.settings.database_url)
        try:
            report = await self.reconciler.run(restored)
        finally:
            await restored.close()
        return {**report.to_dict(), "summary": report.summary()}

    async def check_media(self) -> None:
        """The start-up check of every ready video's files (see services.maintenance.reconcile)."""
        if self.reconciler is not None:
            report = await self.reconciler.run(self.db)
            self.media_check = {**report.to_dict(), "summary": report.summary(), "at": utcnow().isoformat()}

    async def close(self) -> None:
        if self._backup_task is not None:
            self._backup_task.cancel()
            with contextlib.suppress(BaseException):
                await self._backup_task

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
        accounts = self.accounts
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
        names = {u.id: u.username for u in await self.accounts.list_users()}
        keys: list[ApiKey] = await self.accounts.list_api_keys(user_id)
        return [{**k.public_dict(), "username": names.get(k.user_id, "?")} for k in keys]
