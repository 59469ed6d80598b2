"""The running system's parts, built once from settings and shared by the server, CLI and dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from kdrama_tui.config import Settings
from kdrama_tui.db import Database, open_database
from kdrama_tui.errors import ConfigError
from kdrama_tui.events import EventBus
from kdrama_tui.media.binaries import Binaries, find_binaries
from kdrama_tui.media.errors import ToolMissing
from kdrama_tui.models import utcnow
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.accounts.master_key import load_master_key, master_key_setting
from kdrama_tui.services.accounts.service import AccountService
from kdrama_tui.services.accounts.signing_keys import SigningKeys
from kdrama_tui.services.accounts.tokens import TokenService
from kdrama_tui.services.admin.service import AdminService
from kdrama_tui.services.backup.service import BackupService
from kdrama_tui.services.catalog.analytics import AnalyticsService
from kdrama_tui.services.catalog.comments import CommentService
from kdrama_tui.services.catalog.service import CatalogService
from kdrama_tui.services.cluster.events import ClusterEvents
from kdrama_tui.services.cluster.secrets import ClusterSecrets
from kdrama_tui.services.cluster.singletons import RETRY_SECONDS as SINGLETON_RETRY_SECONDS
from kdrama_tui.services.cluster.singletons import run_singleton
from kdrama_tui.services.ingest.failed_imports import FailedImportsService
from kdrama_tui.services.ingest.watcher import Ingester
from kdrama_tui.services.library.handoff import Library
from kdrama_tui.services.maintenance.orphans import OrphanSweeper
from kdrama_tui.services.maintenance.reconcile import MediaReconciler
from kdrama_tui.services.playback.service import PlaybackService
from kdrama_tui.services.series.service import SeriesService
from kdrama_tui.services.transcoding.relay import JobRelay
from kdrama_tui.services.transcoding.service import MediaService
from kdrama_tui.services.uploads import UploadService
from kdrama_tui.storage import Storage
from kdrama_tui.storage.factory import StorageSet, build_storage
from kdrama_tui.storage.local import LocalStorage

log = logging.getLogger(__name__)

PLAYBACK_KEY_POLL_SECONDS = 2.0  # how soon a rotated playback key reaches every node (one tiny query)


@dataclass
class Services:
    settings: Settings
    db: Database
    events: EventBus
    storage: Storage  # where new files go
    storages: StorageSet  # every provider that existing rows may name (other S3 presets built on first use)
    accounts: AccountService
    library: Library
    tokens: TokenService
    backups: BackupService
    uploads: UploadService
    media: MediaService  # transcode queue (media.queue) and subtitle tracks (media.tracks)
    playback: PlaybackService
    catalog: CatalogService
    series: SeriesService
    analytics: AnalyticsService
    comments: CommentService
    ingester: Ingester
    orphans: OrphanSweeper  # originals/ folders a crashed hand-off left unreferenced
    cluster_secrets: ClusterSecrets  # the master key check and the playback key every node shares
    cluster_events: ClusterEvents  # this node's events to the others and theirs to this bus (PostgreSQL)
    started_at: float = field(default_factory=time.time)
    # Lets the in-process dashboard act as admin without a password; lives only in this process's memory.
    local_admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    singleton_retry_seconds: float = SINGLETON_RETRY_SECONDS  # how often a standby node asks for a job's lock
    admin: AdminService = field(init=False, repr=False)  # dashboard figures over all the other services
    failed_imports: FailedImportsService = field(init=False, repr=False)  # what the watch folders refused

    def __post_init__(self) -> None:
        self.admin = AdminService(
            settings=self.settings, db=self.db, storage=self.storage, accounts=self.accounts,
            analytics=self.analytics, backups=self.backups, uploads=self.uploads, started_at=self.started_at,
            audience=self.playback.audience, reconciler=MediaReconciler(self.storages, self.events))
        self.failed_imports = FailedImportsService(self.settings.watch_dirs, self.events)

    def storage_for(self, provider: str) -> Storage:
        """The storage that holds files recorded with ``provider``; StorageError (a DomainError) when it
        cannot be built from [storage]."""
        return self.storages.require(provider)

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived background task; a crash is logged and published, never silent."""

        async def guarded() -> None:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s crashed", name)
                self.events.publish("system.task_crashed", task=name)

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    def spawn_singleton(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """A background task that one node of the cluster runs at a time (whichever holds its lock)."""
        self.spawn(name, lambda: run_singleton(self.db, name, factory, node=self.settings.node_name,
                                               events=self.events, retry_seconds=self.singleton_retry_seconds))

    def follow_cluster(self) -> None:
        """Exchange events with the other nodes (PostgreSQL): a ``worker`` hears a web node's ``job.queued`` at
        once instead of at its next poll. Web nodes do this in :meth:`start_background`."""
        if self.db.dialect != "sqlite" and "cluster.events" not in self.background_tasks:
            self.spawn("cluster.events", self.cluster_events.run)

    @property
    def background_tasks(self) -> list[str]:
        """The names of the background parts running now (the roles this process took)."""
        return sorted(task.get_name() for task in self._tasks if not task.done())

    async def start_background(self, *, web: bool = True, queue: bool = True, ingest: bool = True,
                               schedules: bool = True) -> None:
        """Start the long-running parts: what a web server needs (signing keys checked, playback cache
        invalidation, other workers' job events, the analytics writer, the search backfill), the transcode
        queue, watch folders, periodic cleanups and backups."""
        if web:
            # A lost or swapped master key, or one that is not the cluster's, stops start-up here, loudly.
            await self.cluster_secrets.check_master_key()
            await self.tokens.prepare()
            await self.cluster_secrets.record_master_key()
            self.spawn("playback.key", self._follow_playback_key)
            self.follow_cluster()
            self.spawn("playback.invalidation", self.playback.watch_events)
            self.spawn("media.relay", JobRelay(self.db, self.events, self.media.queue.worker_id).run)
            self.spawn("analytics.writer", self.analytics.run)
            self.spawn("catalog.backfill", self.catalog.backfill_search)
        if schedules:  # one node of a cluster runs each (services/cluster/singletons.py)
            self.spawn_singleton("sessions.cleanup", self._sweep_expired_sessions)
            self.spawn_singleton("uploads.cleanup", self.uploads.run_cleanup)
            self.spawn_singleton("storage.orphans", self.orphans.run)
            # Ready videos whose files are gone (an older backup restored, a lost disk): re-queue or mark missing.
            self.spawn_singleton("media.reconcile", self.admin.check_media)
        if schedules and self.settings.backup.enabled:
            self.spawn_singleton("backup.schedule", self.backups.run_schedule)
        if queue:
            self.spawn("media.queue", self.media.queue.run)
        if ingest and self.settings.ingest.enabled:
            (self.spawn_singleton if self.settings.ingest.shared else self.spawn)("ingest.watch", self.ingester.run)

    async def _follow_playback_key(self, poll_seconds: float = PLAYBACK_KEY_POLL_SECONDS) -> None:
        """Take up a playback key rotated by any node or command within ``poll_seconds``."""
        salt = await self.cluster_secrets.playback_salt()
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                current = await self.cluster_secrets.playback_salt()
            except Exception as exc:  # the database is away for a moment: keep the key we have
                log.warning("could not check the playback key: %s", exc)
                continue
            if current != salt:
                salt = current
                self.playback.use_secret(await self.cluster_secrets.playback_key(salt))
                log.info("playback key rotated elsewhere: links issued before now no longer play")

    async def _sweep_expired_sessions(self) -> None:
        while True:
            removed = await repos_of(self.db).sessions.delete_expired(utcnow())
            if removed:
                log.info("removed %d expired refresh sessions", removed)
            await asyncio.sleep(3600)

    async def close(self) -> None:
        await self.admin.close()  # a backup started from the dashboard stops with the server
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):  # views buffered without a running writer (CLI, tests)
            await self.analytics.flush()
        for storage in self.storages.values():
            await storage.close()
        await self.db.close()


def build_storages(settings: Settings) -> tuple[Storage, StorageSet]:
    """The storage for new files, and every provider existing rows may name: local always (mixed libraries
    keep playing after a switch to S3), the configured S3 provider, other presets on first use. No network
    until first use."""
    local = LocalStorage(settings.media_root)
    built: dict[str, Storage] = {"local": local}
    current: Storage = local
    if settings.storage.provider != "local":
        current = built[settings.storage.provider] = build_storage(settings, settings.storage.provider)
    return current, StorageSet(settings, built)


def application_name(settings: Settings, role: str) -> str:
    """How this process appears in PostgreSQL's ``pg_stat_activity`` (``backup restore`` lists them)."""
    return f"kdrama-tui {role} {settings.node_name} pid {os.getpid()}"


def _binaries(settings: Settings, need_ffmpeg: bool) -> Binaries:
    """ffmpeg and ffprobe; a bad ffmpeg_path stops start-up before anything opens, unless this process never
    runs them (a web node with ``--no-transcode --no-ingest``, whose config may be shared with workers)."""
    try:
        return find_binaries(settings.transcode)
    except (ConfigError, ToolMissing) as exc:
        if need_ffmpeg:
            raise
        log.info("no usable ffmpeg on this node (%s); it neither transcodes nor imports", exc)
        return Binaries(ffmpeg="ffmpeg", ffprobe=None)


async def build_services(settings: Settings, *, migrate: bool = True, role: str = "cli",
                         need_ffmpeg: bool = True) -> Services:
    binaries = _binaries(settings, need_ffmpeg)
    for folder in (settings.data_dir, settings.uploads_dir, settings.work_dir):
        folder.mkdir(parents=True, exist_ok=True)
    master_key = load_master_key(settings)
    db = await open_database(settings.database_url, migrate=migrate,
                             synchronous=settings.database.sqlite_synchronous,
                             busy_timeout_ms=settings.database.busy_timeout_ms,
                             pool_size=settings.database.pool_size,
                             statement_cache_size=settings.database.statement_cache_size,
                             application_name=application_name(settings, role),
                             session_url=settings.database.session_url,
                             read_url=settings.database.read_url,
                             replica_max_lag_seconds=settings.database.replica_max_lag_seconds)
    events = EventBus()
    storage, storages = build_storages(settings)
    accounts = AccountService(db, events, settings.security.bcrypt_rounds)
    signing_keys = SigningKeys(db, events, master_key, timedelta(days=settings.security.signing_key_days))
    library = Library(db, storage, events)
    backups = BackupService(settings, events)
    backups.application_name = application_name(settings, role)
    try:
        secrets_ = ClusterSecrets(db, master_key, master_key_setting(settings))
        playback = PlaybackService(db, settings, storages, events, await secrets_.playback_key())
    except BaseException:
        await db.close()
        raise
    media = MediaService(db, storage, storages, events, settings, binaries=binaries)
    catalog = CatalogService(db, storages, events, playback)
    return Services(
        settings=settings, db=db, events=events, storage=storage, storages=storages,
        accounts=accounts,
        library=library,
        tokens=TokenService(db, events, accounts, signing_keys, settings.security),
        backups=backups,
        uploads=UploadService(db, library, events, settings),
        media=media,
        playback=playback,
        catalog=catalog,
        series=SeriesService(db, catalog, events),
        analytics=AnalyticsService(db, playback, settings.streaming.views_per_ip_per_minute, events),
        comments=CommentService(db, events, playback, max_length=settings.streaming.comment_max_length,
                                per_ip_per_minute=settings.streaming.comments_per_ip_per_minute),
        ingester=Ingester(settings, db, library, accounts, events, binaries, media.tracks),
        orphans=OrphanSweeper(db, storages, events, grace=timedelta(hours=settings.storage.orphan_grace_hours)),
        cluster_secrets=secrets_,
        cluster_events=ClusterEvents(db, events, settings.node_name),
    )
