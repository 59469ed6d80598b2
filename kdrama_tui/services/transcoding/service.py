"""The media pipeline as the rest of the system sees it: ``svc.media.queue`` and ``svc.media.tracks``."""

from __future__ import annotations

from collections.abc import Mapping

from kdrama_tui.config import Settings
from kdrama_tui.db import Database
from kdrama_tui.events import EventBus
from kdrama_tui.media.binaries import Binaries, find_binaries
from kdrama_tui.media.transcoder import LocalServerTranscoder, Transcoder
from kdrama_tui.services.transcoding.queue import MediaQueue
from kdrama_tui.services.transcoding.tracks import SubtitleTracks
from kdrama_tui.storage import Storage


class MediaService:
    def __init__(self, db: Database, storage: Storage, storages: Mapping[str, Storage], events: EventBus,
                 settings: Settings, *, binaries: Binaries | None = None, worker_id: str | None = None) -> None:
        self.binaries = binaries or find_binaries(settings.transcode)
        transcoders: dict[str, Transcoder] = {LocalServerTranscoder.name: LocalServerTranscoder(self.binaries)}
        self.queue = MediaQueue(db=db, storage=storage, storages=storages, events=events, settings=settings,
                                transcoders=transcoders, worker_id=worker_id)
        self.tracks = SubtitleTracks(db, storage, storages, events, settings, self.binaries)
