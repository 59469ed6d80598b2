"""What an original holds: container, duration, video/audio/subtitle streams, size, rotation, frame rate.

With ffprobe the answer comes from its JSON; without it, from the stream summary ``ffmpeg -i`` prints (the
imageio-ffmpeg wheel ships ffmpeg alone). Both produce the same :class:`MediaInfo`. Inputs are untrusted:
they are opened with the options of :mod:`kdrama_tui.media.inputs` (``file:`` protocol only, container
demuxers only), so playlists, concat lists and other formats that point at further files or URLs are refused
before anything but the input is opened. The probe is killed after ``PROBE_TIMEOUT`` seconds (reading a
header takes milliseconds), and that is reported as a bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from kdrama_tui.media.binaries import Binaries
from kdrama_tui.media.errors import FFmpegError, InputError
from kdrama_tui.media.inputs import input_argv, refused_format
from kdrama_tui.media.proc import run_capture

# Demuxers that read other files or URLs, or that are not video at all. The format whitelist keeps them out
# already; this list also checks what an ffprobe that ignored it would report.
REFUSED_FORMATS = frozenset({
    "hls", "applehttp", "concat", "ffconcat", "dash", "mpd", "sdp", "rtp", "rtsp", "tty", "lavfi", "ffmetadata",
    "image2", "image2pipe", "png_pipe", "jpeg_pipe", "webp_pipe", "gif_pipe", "bmp_pipe", "svg_pipe", "srt",
    "ass", "webvtt", "sami", "subviewer", "microdvd", "data", "bin", "libmodplug", "openmpt",
})
STILL_IMAGE_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "webp", "tiff", "svg", "jpegls", "jpeg2000"})
TEXT_SUBTITLE_CODECS = frozenset({
    "subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text", "sami", "microdvd", "subviewer", "subviewer1",
    "jacosub", "realtext", "stl", "pjs", "mpl2", "vplayer", "eia_608",
})
PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class VideoStream:
    index: int
    codec: str
    width: int
    height: int
    frame_rate: Fraction
    rotation: int = 0  # degrees, normalised to 0/90/180/270
    pix_fmt: str = ""
    # ffprobe only (empty/0 from the ffmpeg banner, which the source-copy check reads as "unsure"):
    profile: str = ""  # "High", "Main", "Constrained Baseline", "High 10"...
    level: int = 0  # level_idc: 40 = 4.0
    field_order: str = ""  # "progressive", "tt", "bb"...
    avg_frame_rate: Fraction = Fraction(0)
    bit_rate: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown (ffmpeg applies the rotation when it decodes)."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    channels: int = 0
    sample_rate: int = 0
    profile: str = ""  # "LC", "HE-AAC"... (ffprobe only)


@dataclass(frozen=True)
class SubtitleStream:
    index: int
    codec: str
    language: str | None = None
    title: str | None = None

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_SUBTITLE_CODECS


@dataclass
class MediaInfo:
    format_name: str  # first demuxer name: "mov", "matroska", "mpegts"
    duration: float
    start_time: float = 0.0
    bit_rate: int = 0
    video: VideoStream | None = None
    audio: list[AudioStream] = field(default_factory=list)
    subtitles: list[SubtitleStream] = field(default_factory=list)


# ---- shared helpers ------------------------------------------------------------------------------------------
_NTSC = (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001))


def parse_rate(text: str | None) -> Fraction:
    """``"30000/1001"``, ``"25"``, ``"29.97"`` -> Fraction; 0 when unknown."""
    if not text or text in ("0/0", "N/A"):
        return Fraction(0)
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(int(num), int(den)) if int(den) else Fraction(0)
        value = Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        return Fraction(0)
    for ntsc in _NTSC:  # ffmpeg prints 23.98 / 29.97 / 59.94, rounded
        if abs(float(value) - float(ntsc)) < 0.006:
            return ntsc
    return value


def normalise_rotation(degrees: float) -> int:
    return round(degrees / 90.0) * 90 % 360


def _validate(info: MediaInfo, name: str) -> MediaInfo:
    if info.format_name in REFUSED_FORMATS:
        raise InputError(f"{name} is not a video file (detected {info.format_name!r})")
    if info.video is None:
        raise InputError(f"{name} has no video stream" + (" (audio only)" if info.audio else ""))
    if info.video.width <= 0 or info.video.height <= 0:
        raise InputError(f"{name}: the video stream has no picture size")
    if info.duration <= 0:
        raise InputError(f"{name}: the duration is unknown or zero; the file is damaged or not a video")
    return info


# ---- ffprobe JSON --------------------------------------------------------------------------------------------
def parse_ffprobe_json(data: dict[str, Any]) -> MediaInfo:
    fmt = data.get("format") or {}
    info = MediaInfo(
        format_name=str(fmt.get("format_name", "")).split(",")[0],
        duration=_float(fmt.get("duration")),
        start_time=_float(fmt.get("start_time")),
        bit_rate=int(_float(fmt.get("bit_rate"))),
    )
    for s in data.get("streams") or []:
        kind = s.get("codec_type")
        tags = {str(k).lower(): v for k, v in (s.get("tags") or {}).items()}
        if kind == "video" and info.video is None:
            if (s.get("disposition") or {}).get("attached_pic") or s.get("codec_name") in STILL_IMAGE_CODECS:
                continue
            rotation = 0.0
            for side in s.get("side_data_list") or []:
                if "rotation" in side:
                    rotation = _float(side["rotation"])
            if not rotation and tags.get("rotate"):
                rotation = _float(tags["rotate"])
            rate = parse_rate(s.get("avg_frame_rate")) or parse_rate(s.get("r_frame_rate"))
            info.video = VideoStream(index=int(s["index"]), codec=s.get("codec_name", ""),
                                     width=int(s.get("width") or 0), height=int(s.get("height") or 0),
                                     frame_rate=rate, rotation=normalise_rotation(rotation),
                                     pix_fmt=s.get("pix_fmt", ""), profile=str(s.get("profile") or ""),
                                     level=int(_float(s.get("level"))),
                                     field_order=str(s.get("field_order") or ""),
                                     avg_frame_rate=parse_rate(s.get("avg_frame_rate")),
                                     bit_rate=int(_float(s.get("bit_rate"))))
            if info.duration <= 0:
                info.duration = _float(s.get("duration"))
        elif kind == "audio":
            info.audio.append(AudioStream(index=int(s["index"]), codec=s.get("codec_name", ""),
                                          channels=int(s.get("channels") or 0),
                                          sample_rate=int(_float(s.get("sample_rate"))),
                                          profile=str(s.get("profile") or "")))
        elif kind == "subtitle":
            info.subtitles.append(SubtitleStream(index=int(s["index"]), codec=s.get("codec_name", ""),
                                                 language=tags.get("language"), title=tags.get("title")))
    return info


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# ---- ffmpeg -i banner ----------------------------------------------------------------------------------------
_INPUT = re.compile(r"^Input #0, (?P<fmt>[^ ]+), from ")
_DURATION = re.compile(r"^\s*Duration: (?P<d>N/A|\d+:\d+:\d+(?:\.\d+)?)(?:, start: (?P<s>-?[\d.]+))?"
                       r"(?:, bitrate: (?P<b>\d+) kb/s)?")
_STREAM = re.compile(r"^\s*Stream #0:(?P<idx>\d+)(?:\[[^\]]*\])?(?:\((?P<lang>[^)]*)\))?: "
                     r"(?P<kind>Video|Audio|Subtitle|Data|Attachment): (?P<rest>.*)$")
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,5})x(\d{1,5})(?:[ ,]|$)")
_FPS = re.compile(r"([\d.]+k?) fps")
_TBR = re.compile(r"([\d.]+k?) tbr")
_ROTATION = re.compile(r"(?:displaymatrix|display matrix): rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_METADATA = re.compile(r"^\s+(\w+)\s*: (.*)$")


def _rate_token(token: str) -> Fraction:
    if token.endswith("k"):
        return parse_rate(str(float(token[:-1]) * 1000))
    return parse_rate(token)


def parse_ffmpeg_banner(text: str) -> MediaInfo:
    """Read the stream summary ``ffmpeg -hide_banner -i FILE`` prints on stderr."""
    fmt, duration, start, bitrate = "", 0.0, 0.0, 0
    streams: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if m := _INPUT.match(line):
            fmt = m.group("fmt").rstrip(",").split(",")[0]
        elif m := _DURATION.match(line):
            if m.group("d") != "N/A":
                h, mi, se = m.group("d").split(":")
                duration = int(h) * 3600 + int(mi) * 60 + float(se)
            start = float(m.group("s") or 0)
            bitrate = int(m.group("b") or 0) * 1000
        elif m := _STREAM.match(line):
            current = {"index": int(m.group("idx")), "lang": m.group("lang"), "kind": m.group("kind"),
                       "rest": m.group("rest"), "rotation": 0.0, "tags": {}}
            streams.append(current)
        elif current is not None and (m := _ROTATION.search(line)):
            current["rotation"] = float(m.group(1))
        elif current is not None and (m := _METADATA.match(line)) and line.startswith("      "):
            current["tags"][m.group(1).lower()] = m.group(2).strip()
    info = MediaInfo(format_name=fmt, duration=duration, start_time=start, bit_rate=bitrate)
    for s in streams:
        rest: str = s["rest"]
        codec = rest.split(" ", 1)[0].rstrip(",")
        lang = s["lang"] if s["lang"] and s["lang"] != "und" else None
        if s["kind"] == "Video" and info.video is None:
            if "(attached pic)" in rest or codec in STILL_IMAGE_CODECS:
                continue
            size = _SIZE.search(rest)
            fps = _FPS.search(rest) or _TBR.search(rest)
            rotation = s["rotation"] or _float(s["tags"].get("rotate"))
            info.video = VideoStream(index=s["index"], codec=codec,
                                     width=int(size.group(1)) if size else 0,
                                     height=int(size.group(2)) if size else 0,
                                     frame_rate=_rate_token(fps.group(1)) if fps else Fraction(0),
                                     rotation=normalise_rotation(rotation),
                                     pix_fmt=_pix_fmt(rest))
        elif s["kind"] == "Audio":
            channels = 1 if " mono" in rest else 2 if " stereo" in rest else 6 if "5.1" in rest else 0
            rate = re.search(r"(\d+) Hz", rest)
            info.audio.append(AudioStream(index=s["index"], codec=codec, channels=channels,
                                          sample_rate=int(rate.group(1)) if rate else 0))
        elif s["kind"] == "Subtitle":
            info.subtitles.append(SubtitleStream(index=s["index"], codec=codec, language=lang,
                                                 title=s["tags"].get("title")))
    return info


def _pix_fmt(rest: str) -> str:
    parts = [p.strip() for p in re.split(r",(?![^(]*\))", rest)]
    return parts[1].split("(")[0] if len(parts) > 1 else ""


# ---- entry point ---------------------------------------------------------------------------------------------
def _last_error_line(stderr: bytes, path: Path) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("At least one output file")]
    message = lines[-1] if lines else "unreadable"
    return message.replace(f"file:{path}", "input").replace(str(path), "input")


async def probe(binaries: Binaries, path: Path, *, name: str = "the original") -> MediaInfo:
    """Probe an untrusted file; raise InputError when it is not a playable video."""
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"{name} is empty or missing")
    if binaries.ffprobe:
        argv = [binaries.ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                *input_argv(path)]
    else:
        argv = [binaries.ffmpeg, "-hide_banner", "-nostdin", *input_argv(path)]
    try:
        code, out, err = await run_capture(argv, time_limit=PROBE_TIMEOUT)
    except FFmpegError:
        raise InputError(f"{name} could not be probed within {PROBE_TIMEOUT:.0f} s (the probe was stopped); "
                         "it is damaged or not a video container we accept") from None
    text = err.decode("utf-8", "replace")
    if (refused := refused_format(text, name)) is not None:
        raise refused
    if binaries.ffprobe:
        if code != 0:
            raise InputError(f"{name} is not a readable media file ({_last_error_line(err, path)})")
        try:
            info = parse_ffprobe_json(json.loads(out or b"{}"))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{name} could not be probed ({exc})") from None
    else:
        if "Input #0" not in text:  # ffmpeg always exits 1 here (no output); the banner tells success
            raise InputError(f"{name} is not a readable media file ({_last_error_line(err, path)})")
        info = parse_ffmpeg_banner(text)
    return _validate(info, name)
