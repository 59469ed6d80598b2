"""Finding ffmpeg and ffprobe: the configured path, then PATH, else the binary the imageio-ffmpeg wheel ships.

ffprobe is optional: without it, probing parses ``ffmpeg -i`` output (see ``probe.py``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.errors import ConfigError
from kdrama_tui.media.errors import ToolMissing


@dataclass(frozen=True)
class Binaries:
    ffmpeg: str
    ffprobe: str | None  # None: probe with ffmpeg alone


def _executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def find_binaries(settings: TranscodeSettings, search_path: str | None = None) -> Binaries:
    """Resolve the binaries once (``search_path`` overrides $PATH, for tests)."""
    if settings.ffmpeg_path:
        if not _executable(settings.ffmpeg_path):
            raise ConfigError(f"transcode.ffmpeg_path: {settings.ffmpeg_path} is not an executable file")
        ffmpeg = settings.ffmpeg_path
    else:
        ffmpeg = shutil.which("ffmpeg", path=search_path) or _wheel_ffmpeg()
    if settings.ffprobe_path:
        if not _executable(settings.ffprobe_path):
            raise ConfigError(f"transcode.ffprobe_path: {settings.ffprobe_path} is not an executable file")
        ffprobe: str | None = settings.ffprobe_path
    else:
        ffprobe = shutil.which("ffprobe", path=search_path)
    return Binaries(ffmpeg=ffmpeg, ffprobe=ffprobe)


def _wheel_ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise ToolMissing("ffmpeg was not found: install it (apt-get install ffmpeg), set transcode.ffmpeg_path, "
                          f"or install the imageio-ffmpeg wheel ({exc})") from None
