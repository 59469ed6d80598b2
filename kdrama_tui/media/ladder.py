"""The HLS ladder: which renditions a source gets, and the one ffmpeg command that makes them all.

One decode feeds a ``split`` filter, one branch per rendition (PERFORMANCE.md: 1.25-1.5x faster than a run
per rendition). Keyframes are forced every ``segment_seconds`` on a constant frame rate (``fps`` filter, GOP of
exactly fps x segment, no scene-cut keyframes), so every rendition has its segment boundaries at the same
instants and players can switch between them. The argv is built with ffmpeg-python, inputs are opened with
the options of :mod:`kdrama_tui.media.inputs` (``file:`` only, container demuxers only), and it is
executed without a shell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from kdrama_tui.media.encoders import VideoEncoder, software
from kdrama_tui.media.inputs import input_options, input_url
from kdrama_tui.media.probe import MediaInfo
from kdrama_tui.media.source_copy import SharedAudio, hls_output_options

MAX_FRAME_RATE = Fraction(60)
DEFAULT_FRAME_RATE = Fraction(25)
# A source this close below a rung (719 lines vs 720p) still gets that rung, at its own size: no upscaling,
# and the viewer is not left with 480p for what is in fact a 720p file.
NEAR_RUNG = 0.9
AUDIO_SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    video_bitrate: int  # bits per second
    audio_bitrate: int

    @property
    def maxrate(self) -> int:
        return int(self.video_bitrate * 1.1)

    @property
    def bufsize(self) -> int:
        return self.video_bitrate * 2


@dataclass(frozen=True)
class LadderPlan:
    renditions: list[Rendition]
    frame_rate: Fraction
    segment_seconds: int
    segment_type: str  # "fmp4" or "mpegts"
    has_audio: bool
    preset: str

    @property
    def gop(self) -> int:
        return max(1, round(self.frame_rate * self.segment_seconds))

    @property
    def segment_extension(self) -> str:
        return "m4s" if self.segment_type == "fmp4" else "ts"


def parse_bitrate(value: str | int) -> int:
    """``"800k"`` / ``"5M"`` / ``800000`` -> bits per second."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(value))
    if not match:
        raise ValueError(f"not a bitrate: {value!r}")
    number, unit = match.groups()
    return int(float(number) * {"": 1, "k": 1000, "m": 1_000_000}[unit.lower()])


def _even(value: float) -> int:
    return max(2, round(value / 2.0) * 2)


def _size_for(short_side: int, display_w: int, display_h: int) -> tuple[int, int]:
    """Scale so the shorter side is ``short_side`` (portrait videos are sized by their width)."""
    if min(display_w, display_h) <= short_side:  # the source's own size: round down, never up a line
        return max(2, display_w // 2 * 2), max(2, display_h // 2 * 2)
    if display_w >= display_h:
        return _even(display_w * short_side / display_h), _even(short_side)
    return _even(short_side), _even(display_h * short_side / display_w)


def plan_renditions(rungs: list[dict[str, Any]], display_w: int, display_h: int) -> list[Rendition]:
    """Every configured rung the source can fill, never upscaled; at least one rendition."""
    source_short = min(display_w, display_h)
    ordered = sorted(rungs, key=lambda r: int(r["height"]))
    out: list[Rendition] = []
    for rung in ordered:
        target = int(rung["height"])
        vb, ab = parse_bitrate(rung["video_bitrate"]), parse_bitrate(rung["audio_bitrate"])
        if target <= source_short:
            w, h = _size_for(target, display_w, display_h)
        elif source_short >= target * NEAR_RUNG:
            w, h = _size_for(source_short, display_w, display_h)
        else:
            break
        out.append(Rendition(str(rung["name"]), w, h, vb, ab))
    if not out:  # smaller than the lowest rung: one rendition at its own size
        lowest = ordered[0]
        w, h = _size_for(source_short, display_w, display_h)
        lw, lh = _size_for(int(lowest["height"]), display_w, display_h)
        area = (w * h) / (lw * lh)
        vb = max(150_000, int(parse_bitrate(lowest["video_bitrate"]) * max(area, 0.25)))
        out.append(Rendition(f"{min(w, h)}p", w, h, vb, parse_bitrate(lowest["audio_bitrate"])))
    return out


def output_frame_rate(source: Fraction) -> Fraction:
    if source <= 0:
        return DEFAULT_FRAME_RATE
    rate = source
    while rate > MAX_FRAME_RATE:  # 120 fps -> 60, 100 -> 50: keep an integer relation to the source
        rate /= 2
    return rate


def plan_ladder(info: MediaInfo, rungs: list[dict[str, Any]], *, segment_seconds: int, segment_type: str,
                preset: str) -> LadderPlan:
    assert info.video is not None
    w, h = info.video.display_size
    return LadderPlan(renditions=plan_renditions(rungs, w, h), frame_rate=output_frame_rate(info.video.frame_rate),
                      segment_seconds=segment_seconds, segment_type=segment_type, has_audio=bool(info.audio),
                      preset=preset)


def input_stream(path: Path, info: MediaInfo, **options: Any) -> Any:
    """An ffmpeg-python input for an untrusted file: ``file:`` URL, whitelists, the probed demuxer."""
    return ffmpeg.input(input_url(path), **input_options(info.format_name), **options)


def build_ladder_argv(ffmpeg_bin: str, source: Path, info: MediaInfo, plan: LadderPlan, out_dir: Path, *,
                      encoder: VideoEncoder | None = None, keyframe_times: str | None = None,
                      copy_audio: bool = False, shared_audio: SharedAudio | None = None) -> list[str]:
    """The single ffmpeg command writing ``out_dir/<rendition>/index.m3u8`` + segments for every rendition.

    ``keyframe_times`` (aligning to a copied rendition): keyframes exactly there and nowhere else, and a
    segment cut at each of them. ``copy_audio``: the source's audio goes into every rendition as it is;
    ``shared_audio``: that AAC encode does."""
    assert info.video is not None
    encoder = encoder or software(plan.preset)
    src = input_stream(source, info)
    video = (src[str(info.video.index)]
             .filter("fps", fps=f"{plan.frame_rate.numerator}/{plan.frame_rate.denominator}")
             .filter("format", "yuv420p"))  # 10-bit / 4:2:2 sources become 8-bit 4:2:0 every browser decodes
    branches = video.filter_multi_output("split", len(plan.renditions))
    audio = src[str(info.audio[0].index)] if plan.has_audio else None
    if shared_audio is not None and plan.has_audio:
        audio = ffmpeg.input(input_url(shared_audio.path), itsoffset=f"{shared_audio.offset:.6f}",
                             **input_options("mov"))["a:0"]
        copy_audio = True
    if keyframe_times is None:
        keyframes, gop, hls_time = f"expr:gte(t,n_forced*{plan.segment_seconds})", plan.gop, plan.segment_seconds
    else:  # no keyframe but the forced ones, so the muxer's "first keyframe after hls_time" is each of them
        keyframes, gop, hls_time = keyframe_times, plan.gop * 4, 0.1
    outputs = []
    for i, r in enumerate(plan.renditions):
        scaled = branches.stream(i).filter("scale", r.width, r.height).filter("setsar", "1")
        for name, options in encoder.upload:
            scaled = scaled.filter(name, **options)
        folder = out_dir / r.name
        options: dict[str, Any] = {
            "c:v": encoder.name, **encoder.options,
            "b:v": r.video_bitrate, "maxrate": r.maxrate, "bufsize": r.bufsize,
            "g": gop, "keyint_min": plan.gop, "sc_threshold": 0, "force_key_frames": keyframes,
            **hls_output_options(folder, segment_seconds=hls_time, segment_type=plan.segment_type),
        }
        streams = [scaled]
        if audio is not None:
            streams.append(audio)
            options.update({"c:a": "copy"} if copy_audio else
                           {"c:a": "aac", "b:a": r.audio_bitrate, "ac": 2, "ar": AUDIO_SAMPLE_RATE})
        outputs.append(ffmpeg.output(*streams, f"file:{folder}/index.m3u8", **options))
    command = ffmpeg.merge_outputs(*outputs).global_args(
        *encoder.global_args, "-hide_banner", "-nostdin", "-v", "warning", "-nostats", "-progress", "pipe:1")
    return command.compile(cmd=ffmpeg_bin, overwrite_output=True)


def per_rendition_argvs(ffmpeg_bin: str, source: Path, info: MediaInfo, plan: LadderPlan,
                        out_dir: Path) -> list[list[str]]:
    """The same ladder as one ffmpeg run per rendition (only for the benchmark's comparison)."""
    return [build_ladder_argv(ffmpeg_bin, source, info, LadderPlan([r], plan.frame_rate, plan.segment_seconds,
                                                                   plan.segment_type, plan.has_audio, plan.preset),
                              out_dir) for r in plan.renditions]


def segment_count(duration: float, segment_seconds: int) -> int:
    return max(1, math.ceil(duration / segment_seconds - 1e-6))
