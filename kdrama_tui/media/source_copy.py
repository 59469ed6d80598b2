"""Keeping the source's own H.264 stream as the top rendition, remuxed into HLS without re-encoding.

Most originals are already H.264 that every browser decodes; re-encoding their top rendition is most of the
ladder's work and loses quality. :func:`choose_path` says whether a source may be copied, and if not, why
(the reason goes into the job's log line and its ladder state). It reads the video stream's packets once
(``ffprobe -show_entries packet``: the demuxer only, no decoding) for keyframe times and frame spacing.

Alignment: the copied rendition is segmented first (``-c:v copy``, the HLS muxer cuts at the first keyframe
after each ``segment_seconds``). Its playlist then says exactly where every segment begins; those instants,
snapped to the source's keyframe times, are forced as keyframes in the encoded renditions, which are cut at
every keyframe (they have no others). So all renditions begin their segments at the same frames, and a
player switches between the copied and the encoded ones without a stall or a jump.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import m3u8

from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.errors import FFmpegError
from kdrama_tui.media.inputs import input_argv
from kdrama_tui.media.probe import MediaInfo
from kdrama_tui.media.proc import run_capture

# What browsers' H.264 decoders take (Chrome, Firefox, Safari, Edge): 8-bit 4:2:0 in these profiles.
BROWSER_PROFILES = frozenset({"Constrained Baseline", "Baseline", "Main", "High"})
MAX_LEVEL = 52  # level 5.2
COPY_CONTAINERS = frozenset({"mov", "matroska", "mpegts"})  # demuxers that give reliable pts and key flags
MAX_COPY_FRAME_RATE = 60
SCAN_TIMEOUT = 600.0
# Frame spacing that strays further than this from the median (seconds, beyond the container's rounding)
# makes the source variable-frame-rate.
VFR_TOLERANCE = 0.0015


@dataclass(frozen=True)
class VideoScan:
    """The video stream's packets, read without decoding."""

    keyframes: list[float]  # pts (seconds, as stored) of keyframe packets, ascending
    first_pts: float  # earliest presentation time of any frame
    end_pts: float  # presentation end of the last frame
    frame_duration: float  # median spacing between frames
    spacing_spread: float  # largest distance of a frame spacing from the median

    @property
    def longest_gap(self) -> float:
        edges = [*self.keyframes, self.end_pts]
        return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)


@dataclass(frozen=True)
class PathChoice:
    copy: bool
    reason: str  # why this path, for the job's log line and the dashboard
    copy_audio: bool = False  # the first audio stream is AAC-LC stereo: copied into every rendition
    scan: VideoScan | None = None

    @property
    def name(self) -> str:
        return "copy" if self.copy else "full"


def parse_packets(text: str) -> VideoScan | None:
    """``pts_time,duration_time,flags`` lines (ffprobe csv) -> VideoScan; None when unusable."""
    times: list[float] = []
    keyframes: list[float] = []
    durations: list[float] = []
    for line in text.splitlines():
        parts = line.strip().split(",")
        if len(parts) < 3 or parts[0] in ("", "N/A"):
            continue
        try:
            pts = float(parts[0])
        except ValueError:
            continue
        times.append(pts)
        if "K" in parts[2]:
            keyframes.append(pts)
        with contextlib.suppress(ValueError):
            durations.append(float(parts[1]))
    if len(times) < 2 or not keyframes:
        return None
    times.sort()
    spacing = [b - a for a, b in itertools.pairwise(times)]
    median = statistics.median(spacing)
    last = durations[-1] if durations and durations[-1] > 0 else median
    return VideoScan(keyframes=sorted(keyframes), first_pts=times[0], end_pts=times[-1] + last,
                     frame_duration=median, spacing_spread=max(abs(s - median) for s in spacing))


async def scan_video(binaries: Binaries, source: Path, info: MediaInfo) -> VideoScan | None:
    """Keyframe times and frame spacing of the video stream; None without ffprobe or when it fails."""
    if binaries.ffprobe is None or info.video is None:
        return None
    code, out, _err = await run_capture(
        [binaries.ffprobe, "-v", "error", "-select_streams", str(info.video.index),
         "-show_entries", "packet=pts_time,duration_time,flags", "-of", "csv=p=0",
         *input_argv(source, info.format_name)], time_limit=SCAN_TIMEOUT)
    return parse_packets(out.decode("ascii", "replace")) if code == 0 else None


def audio_is_copyable(info: MediaInfo) -> bool:
    a = info.audio[0] if info.audio else None
    return a is not None and a.codec == "aac" and a.profile == "LC" and a.channels == 2


def stream_refusal(info: MediaInfo, top_rung_height: int) -> str | None:
    """Why the video stream cannot be played by browsers as it is (None: it can), from the probe alone."""
    v = info.video
    if v is None:
        return "no video stream"
    if v.codec != "h264":
        return f"the video is {v.codec or 'of unknown codec'}, not H.264"
    if v.pix_fmt != "yuv420p":
        return f"pixel format {v.pix_fmt or 'unknown'} (10-bit, 4:2:2/4:4:4 or full range)"
    if v.profile not in BROWSER_PROFILES:
        return f"H.264 profile {v.profile or 'unknown'} is not one browsers decode"
    if not 0 < v.level <= MAX_LEVEL:
        return f"H.264 level {v.level / 10:g} is above 5.2" if v.level else "the H.264 level is unknown"
    if v.rotation:
        return f"rotated {v.rotation} degrees by metadata, which browsers ignore"
    if v.field_order != "progressive":
        return f"interlaced ({v.field_order})" if v.field_order else "the field order is unknown"
    if info.format_name not in COPY_CONTAINERS:
        return f"the {info.format_name} container does not give reliable frame times"
    if not 0 < v.frame_rate <= MAX_COPY_FRAME_RATE:
        return f"frame rate {float(v.frame_rate):.3f} fps is above 60 or unknown"
    if v.avg_frame_rate and abs(float(v.avg_frame_rate) - float(v.frame_rate)) > 0.01 * float(v.frame_rate):
        return (f"variable frame rate (average {float(v.avg_frame_rate):.3f} fps, "
                f"nominal {float(v.frame_rate):.3f} fps)")
    if min(v.width, v.height) > top_rung_height:
        return f"{v.width}x{v.height} is larger than the ladder's top rung ({top_rung_height}p)"
    return None


def scan_refusal(scan: VideoScan | None, segment_seconds: int) -> str | None:
    """Why the keyframes or frame timing do not allow segments aligned with a copied stream (None: they do)."""
    if scan is None:
        return "the keyframes could not be read"
    if scan.spacing_spread > max(VFR_TOLERANCE, 0.02 * scan.frame_duration):
        return f"variable frame rate (frame spacing varies by up to {scan.spacing_spread * 1000:.0f} ms)"
    if scan.keyframes[0] - scan.first_pts > scan.frame_duration / 2:
        return "the first frame is not a keyframe"
    limit = 2 * segment_seconds
    if scan.longest_gap > limit + scan.frame_duration / 2:
        return f"keyframes up to {scan.longest_gap:.1f} s apart (long GOP; at most 2 x segment_seconds = {limit} s)"
    return None


async def choose_path(binaries: Binaries, source: Path, info: MediaInfo, *, enabled: bool, segment_seconds: int,
                      top_rung_height: int) -> PathChoice:
    """Copy the source's video into the top rendition, or re-encode everything; the reason either way."""
    if not enabled:
        return PathChoice(False, "transcode.copy_source is off")
    if (refused := stream_refusal(info, top_rung_height)) is not None:
        return PathChoice(False, refused)
    scan = await scan_video(binaries, source, info)
    if (refused := scan_refusal(scan, segment_seconds)) is not None:
        return PathChoice(False, refused)
    assert info.video is not None
    copy_audio = audio_is_copyable(info)
    v = info.video
    audio = ("no audio" if not info.audio else "AAC-LC stereo audio copied" if copy_audio
             else f"{info.audio[0].codec} audio encoded once to AAC")
    reason = (f"H.264 {v.profile} {v.level / 10:g} {v.width}x{v.height} with keyframes at most "
              f"{scan.longest_gap if scan else 0:.1f} s apart; {audio}")
    return PathChoice(True, reason, copy_audio=copy_audio, scan=scan)


# ---- the copied rendition ------------------------------------------------------------------------------------
def hls_output_options(folder: Path, *, segment_seconds: float, segment_type: str) -> dict[str, Any]:
    extension = "m4s" if segment_type == "fmp4" else "ts"
    options: dict[str, Any] = {
        "f": "hls", "hls_time": segment_seconds, "hls_playlist_type": "vod", "hls_list_size": 0,
        "hls_segment_type": segment_type, "hls_flags": "independent_segments", "start_number": 1,
        "hls_segment_filename": f"file:{folder}/seg_%05d.{extension}",
    }
    if segment_type == "fmp4":
        options["hls_fmp4_init_filename"] = "init.mp4"
    return options


@dataclass(frozen=True)
class SharedAudio:
    """The source's audio encoded once to AAC, for every rendition to copy."""

    path: Path
    offset: float  # its start time, given back with -itsoffset so it keeps its place beside the video


async def encode_shared_audio(binaries: Binaries, source: Path, info: MediaInfo, target: Path, *, bitrate: int,
                              sample_rate: int, nice: int, time_limit: float) -> SharedAudio:
    """Encode the first audio stream to AAC-LC stereo once (an .m4a beside the job's outputs)."""
    assert info.audio and binaries.ffprobe is not None
    code, _out, err = await run_capture(
        [binaries.ffmpeg, "-hide_banner", "-nostdin", "-v", "error", *input_argv(source, info.format_name),
         "-map", f"0:{info.audio[0].index}", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-c:a", "aac",
         "-b:a", str(bitrate), "-ac", "2", "-ar", str(sample_rate), "-f", "mp4", "-y", f"file:{target}"],
        time_limit=time_limit, nice=nice)
    if code != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown error"]
        raise FFmpegError(f"the audio could not be encoded ({tail[0]})")
    code, out, _err = await run_capture([binaries.ffprobe, "-v", "error", "-show_entries", "format=start_time",
                                         "-of", "csv=p=0", *input_argv(target, "mov")], time_limit=60)
    try:
        offset = float(out.decode().strip() or 0) if code == 0 else 0.0
    except ValueError:
        offset = 0.0
    return SharedAudio(target, offset)


def shared_audio_argv(audio: SharedAudio) -> list[str]:
    return ["-itsoffset", f"{audio.offset:.6f}", *input_argv(audio.path, "mov")]


def build_copy_argv(ffmpeg_bin: str, source: Path, info: MediaInfo, folder: Path, *, segment_seconds: int,
                    segment_type: str, copy_audio: bool, shared_audio: SharedAudio | None = None) -> list[str]:
    """One ffmpeg run: the source's video packets as they are, with its audio (copied, or the shared AAC
    encode) into HLS."""
    assert info.video is not None
    argv = [ffmpeg_bin, "-hide_banner", "-nostdin", "-v", "warning", "-nostats", "-progress", "pipe:1",
            *input_argv(source, info.format_name)]
    if shared_audio is not None:
        argv += shared_audio_argv(shared_audio)
    argv += ["-map", f"0:{info.video.index}"]
    if shared_audio is not None:
        argv += ["-map", "1:a:0", "-c:a", "copy"]
    elif info.audio and copy_audio:
        argv += ["-map", f"0:{info.audio[0].index}", "-c:a", "copy"]
    argv += ["-c:v", "copy", "-map_metadata", "-1", "-sn", "-dn"]
    for key, value in hls_output_options(folder, segment_seconds=segment_seconds, segment_type=segment_type).items():
        argv += [f"-{key}", str(value)]
    return [*argv, "-y", f"file:{folder}/index.m3u8"]


def segment_starts(playlist: Path, scan: VideoScan, start_time: float) -> list[float]:
    """Where each segment of the copied rendition begins, on ffmpeg's output clock (the input's start time
    is subtracted), snapped to the source keyframe it begins with."""
    durations = [float(s.duration) for s in m3u8.loads(playlist.read_text(encoding="utf-8")).segments]
    starts, elapsed = [], scan.keyframes[0]
    for duration in durations:
        i = bisect.bisect_left(scan.keyframes, elapsed)
        near = min(scan.keyframes[max(0, i - 1):i + 1], key=lambda k: abs(k - elapsed))
        starts.append(near - start_time)
        elapsed += duration
    return starts


def forced_keyframes(starts: list[float], frame_duration: float) -> str:
    """``-force_key_frames`` times: half a frame early, so the frame at each boundary is the one forced."""
    return ",".join(f"{max(0.0, t - frame_duration / 2):.6f}" for t in starts[1:]) or "0"
