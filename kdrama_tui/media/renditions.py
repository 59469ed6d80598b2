"""Finished renditions: measuring one for the master playlist, checking alignment, and the ladder's state.

The state (:class:`LadderState`) is what the job shows while it runs: which path was taken and why, the video
encoder, and per rendition whether it exists (published, playable) or how far its encode is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdrama_tui.media import hls
from kdrama_tui.media.errors import FFmpegError, InputError

# A ladder that decodes less than this share of the probed duration came from a truncated file.
MIN_DECODED_SHARE = 0.9


@dataclass
class Measured:
    variant: hls.Variant
    durations: list[float]
    names: list[str]  # files of the rendition, relative to its folder


def measure(folder: Path, *, width: int, height: int, frame_rate: float, segment_type: str, has_audio: bool,
            duration: float) -> Measured:
    """The master playlist's entry for a finished rendition folder, from its own files."""
    try:
        stats = hls.measure_rendition(folder)
    except (OSError, ValueError) as exc:
        raise FFmpegError(f"rendition {folder.name} is incomplete: {exc}") from None
    decoded = sum(d for _uri, d in stats.segments)
    if decoded < duration * MIN_DECODED_SHARE and duration - decoded > 1.0:
        raise InputError(f"the original is truncated or damaged: only {decoded:.1f} s of its "
                         f"{duration:.1f} s could be decoded")
    if segment_type == "fmp4":
        codec = hls.avc_codec_from_init((folder / (stats.init_uri or "init.mp4")).read_bytes())
    else:
        codec = hls.avc_codec_from_ts((folder / stats.segments[0][0]).read_bytes())
    codecs = f"{codec},{hls.AAC_LC}" if has_audio else codec
    variant = hls.Variant(uri=f"{folder.name}/index.m3u8", bandwidth=stats.peak_bandwidth,
                          average_bandwidth=stats.average_bandwidth, width=width, height=height, codecs=codecs,
                          frame_rate=frame_rate)
    names = ["index.m3u8"] + ([stats.init_uri] if stats.init_uri else []) + [u for u, _d in stats.segments]
    return Measured(variant, [d for _u, d in stats.segments], names)


def misalignment(reference: list[float], other: list[float], frame_duration: float) -> str | None:
    """Where two renditions' segment boundaries differ by more than one frame (None: they match)."""
    if len(reference) != len(other):
        return f"{len(other)} segments instead of {len(reference)}"
    at_ref = at_other = 0.0
    for i, (a, b) in enumerate(zip(reference, other, strict=True)):
        at_ref, at_other = at_ref + a, at_other + b
        if abs(at_ref - at_other) > frame_duration * 1.01:
            return f"segment {i + 1} ends at {at_other:.3f} s instead of {at_ref:.3f} s"
    return None


@dataclass
class RenditionState:
    name: str
    width: int
    height: int
    source: str  # "copy" (the source's own video) or "encoded"
    progress: int = 0  # percent of its encode
    ready: bool = False  # complete and listed in the published master playlist

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "width": self.width, "height": self.height, "source": self.source,
                "progress": self.progress, "ready": self.ready}


@dataclass
class LadderState:
    path: str  # "copy" or "full"
    reason: str
    encoder: str
    renditions: list[RenditionState] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "encoder": self.encoder,
                "renditions": [r.to_dict() for r in self.renditions]}

    def set_progress(self, names: set[str], fraction: float) -> None:
        for r in self.renditions:
            if r.name in names and not r.ready:
                r.progress = max(r.progress, min(99, int(fraction * 100)))

    def mark_done(self, names: set[str]) -> None:
        for r in self.renditions:
            if r.name in names:
                r.progress = 100
