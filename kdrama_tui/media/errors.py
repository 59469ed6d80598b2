"""Why a transcode failed, in two kinds: the input's fault (retrying cannot help) or the run's."""

from __future__ import annotations


class MediaError(Exception):
    """A transcode step failed; ``str()`` is the message recorded on the job."""


class InputError(MediaError):
    """The original is not a playable video (not media, truncated, no video stream): never retried."""


class FFmpegError(MediaError):
    """ffmpeg exited non-zero, was killed or ran out of time; the message ends with its last stderr lines."""

    def __init__(self, message: str, stderr_tail: list[str] | None = None) -> None:
        self.stderr_tail = stderr_tail or []
        tail = "\n".join(self.stderr_tail)
        super().__init__(f"{message}\n{tail}" if tail else message)


class ToolMissing(MediaError):
    """No usable ffmpeg binary."""


class SubtitleError(MediaError):
    """A subtitle file could not be read; the track is skipped with a warning."""
