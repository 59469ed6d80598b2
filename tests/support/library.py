"""Ready videos with real stored files (no transcode): an original and a small HLS set per video."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.storage import keys

HLS_FILES = [("master_playlist", "master.m3u8"), ("playlist", "480p/index.m3u8"),
             ("transcoded_480p", "480p/seg_000.m4s"), ("thumbnail", "poster.jpg")]


async def ready_video(svc: Services, uploader_id: int, title: str) -> Video:
    """A ready video whose rows name an original and four generated files, all present in storage."""
    repos = repos_of(svc.db)
    video = await repos.videos.create({"title": title, "uploader_user_id": uploader_id, "status": "ready"})
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("original", f"{keys.new_original_folder()}/source.mkv")]
        rows += [(kind, keys.hls_folder(video.id) + name) for kind, name in HLS_FILES]
        for kind, key in rows:
            source = Path(tmp) / "f"
            source.write_bytes(f"{title} {key}".encode())
            stored = await svc.storage.put_file(key, source)
            await repos.video_files.create({"video_id": video.id, "file_type": kind,
                                            "storage_provider": svc.storage.provider, "file_path": stored.key,
                                            "file_size": stored.size, "checksum": stored.sha256})
    return video


async def original_key(svc: Services, video_id: int) -> str:
    return (await repos_of(svc.db).video_files.find_by_video(video_id, "original"))[0].file_path
