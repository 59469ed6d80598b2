"""The one place that spells storage keys.

    originals/<uuid>/source<.ext>          an original, under a folder of its own (a retried hand-off never
    originals/<uuid>/subtitles/NN<.ext>    overwrites another's), with the subtitle files that came with it
    videos/<id>/hls/...                    a video's HLS output: master and variant playlists, segments,
                                           subtitle renditions, thumbnails and the poster
"""

from __future__ import annotations

import re
import uuid

ORIGINALS = "originals/"
VIDEOS = "videos/"
_ORIGINAL_FOLDER = re.compile(r"^[0-9a-f]{32}$")  # uuid4().hex


def new_original_folder() -> str:
    """A fresh ``originals/<uuid>`` folder for one hand-off."""
    return f"{ORIGINALS}{uuid.uuid4().hex}"


def original_source(folder: str, extension: str) -> str:
    return f"{folder}/source{extension}"


def original_subtitle(folder: str, number: int, extension: str) -> str:
    return f"{folder}/subtitles/{number:02d}{extension}"


def original_folder_prefix(key: str) -> str | None:
    """``originals/<uuid>/`` when ``key`` lies inside an original's folder (its source or a subtitle), else
    None."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[0] + "/" == ORIGINALS:
        return f"{ORIGINALS}{parts[1]}/"
    return None


def folder_of_original(key: str) -> str:
    """``originals/<uuid>`` for an original's key (new subtitle files go beside it)."""
    folder = original_folder_prefix(key)
    if folder is None:
        raise ValueError(f"not an original's key: {key!r}")
    return folder.rstrip("/")


def is_original_folder_name(name: str) -> bool:
    """Whether a folder name under ``originals/`` is one a hand-off makes (anything else is never swept)."""
    return bool(_ORIGINAL_FOLDER.match(name))


def video_folder(video_id: int) -> str:
    """``videos/<id>/``: everything a transcode wrote for the video (deleted with it)."""
    return f"{VIDEOS}{video_id}/"


def hls_folder(video_id: int) -> str:
    """``videos/<id>/hls/``: the video's HLS tree; playback paths are relative to it."""
    return f"{VIDEOS}{video_id}/hls/"
