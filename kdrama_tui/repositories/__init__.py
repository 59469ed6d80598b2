"""Repositories for every table, bound to one executor (a database or an open transaction)."""

from __future__ import annotations

from functools import cached_property

from kdrama_tui.db.base import Executor
from kdrama_tui.repositories.credentials import ApiKeyRepository, KeyPairRepository, UserSessionRepository
from kdrama_tui.repositories.engagement import CommentRepository, VideoAnalyticsRepository
from kdrama_tui.repositories.ingest import IngestedFileRepository
from kdrama_tui.repositories.media import TranscodingJobRepository, VideoFileRepository
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
