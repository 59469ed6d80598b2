"""Repositories for every table, bound to one executor (a database or an open transaction).

``repos_of(db).videos`` outside a transaction, ``repos_of(tx).videos`` inside one: the repositories share
the executor they are bound to, so everything done through ``repos_of(tx)`` commits or rolls back together.
The database layer knows nothing of this package (the arrow points from here down to ``db``).
"""

from __future__ import annotations

from functools import cached_property
from weakref import WeakKeyDictionary

from kdrama_tui.db.base import Executor
from kdrama_tui.repositories.cluster import ClusterSecretRepository, ClusterSessionRepository
from kdrama_tui.repositories.credentials import ApiKeyRepository, KeyPairRepository, UserSessionRepository
from kdrama_tui.repositories.engagement import CommentRepository, VideoAnalyticsRepository
from kdrama_tui.repositories.ingest import IngestedFileRepository
from kdrama_tui.repositories.media import TranscodingJobRepository, VideoFileRepository
from kdrama_tui.repositories.series import EpisodeSegmentRepository, SeriesRepository, UnmatchedVideoRepository
from kdrama_tui.repositories.stats import StatsRepository
from kdrama_tui.repositories.uploads import UploadChunkRepository, UploadRepository
from kdrama_tui.repositories.users import UserRepository
from kdrama_tui.repositories.videos import VideoRepository


class Repositories:
    def __init__(self, db: Executor) -> None:
        self.db = db

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.db)

    @cached_property
    def videos(self) -> VideoRepository:
        return VideoRepository(self.db)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.db)

    @cached_property
    def keys(self) -> KeyPairRepository:
        return KeyPairRepository(self.db)

    @cached_property
    def uploads(self) -> UploadRepository:
        return UploadRepository(self.db)

    @cached_property
    def upload_chunks(self) -> UploadChunkRepository:
        return UploadChunkRepository(self.db)

    @cached_property
    def jobs(self) -> TranscodingJobRepository:
        return TranscodingJobRepository(self.db)

    @cached_property
    def video_files(self) -> VideoFileRepository:
        return VideoFileRepository(self.db)

    @cached_property
    def sessions(self) -> UserSessionRepository:
        return UserSessionRepository(self.db)

    @cached_property
    def analytics(self) -> VideoAnalyticsRepository:
        return VideoAnalyticsRepository(self.db)

    @cached_property
    def comments(self) -> CommentRepository:
        return CommentRepository(self.db)

    @cached_property
    def stats(self) -> StatsRepository:
        return StatsRepository(self.db)

    @cached_property
    def ingested_files(self) -> IngestedFileRepository:
        return IngestedFileRepository(self.db)

    @cached_property
    def series(self) -> SeriesRepository:
        return SeriesRepository(self.db)

    @cached_property
    def segments(self) -> EpisodeSegmentRepository:
        return EpisodeSegmentRepository(self.db)

    @cached_property
    def unmatched(self) -> UnmatchedVideoRepository:
        return UnmatchedVideoRepository(self.db)

    @cached_property
    def cluster_secrets(self) -> ClusterSecretRepository:
        return ClusterSecretRepository(self.db)

    @cached_property
    def cluster_sessions(self) -> ClusterSessionRepository:
        return ClusterSessionRepository(self.db)


_bound: WeakKeyDictionary[Executor, Repositories] = WeakKeyDictionary()


def repos_of(executor: Executor) -> Repositories:
    """The repositories bound to ``executor``, built once per executor (a transaction gets its own)."""
    found = _bound.get(executor)
    if found is None:
        found = _bound[executor] = Repositories(executor)
    return found
