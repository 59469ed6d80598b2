"""A cheap "is this a video?" check for dropped files, before anything is moved or hashed.

ffprobe reads the container header only (milliseconds, whatever the file's size). Untrusted files are
opened as ``file:`` paths with ``-protocol_whitelist file`` and a demuxer allowlist of video containers,
so a playlist (``.m3u8``, concat list) cannot make ffprobe open other files or URLs, and an image,
text or audio file renamed ``.mkv`` is refused by its content, not by its name. Without ffprobe (CONTRACT:
only the imageio-ffmpeg wheel's ffmpeg may exist), ``ffmpeg -i`` prints the same facts on stderr.

Deciding this here, not in the transcode queue, keeps a text file dropped into the folder out of the
library: it lands in ``failed/`` with a reason instead of becoming a failed video.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from kdrama_tui.config import TranscodeSettings

VIDEO_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,asf,ogg,rm,mxf,nut,dv,"
                  "wtv,ivf,h264,hevc")
PROBE_TIMEOUT = 60.0


class NotAVideo(Exception):
    """The file is not a video this system can take; the message says why, in one line."""


@dataclass(frozen=True)
class MediaTools:
    ffmpeg: str
    ffprobe: str | None  # None: probe with ffmpeg alone


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None


def find_tools(settings: TranscodeSettings) -> MediaTools:
    """ffmpeg/ffprobe from the settings, else PATH, else the ffmpeg of the imageio-ffmpeg wheel."""
    ffmpeg = settings.ffmpeg_path or shutil.which("ffmpeg")
    if not ffmpeg:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ffprobe = settings.ffprobe_path or shutil.which("ffprobe")
    return MediaTools(ffmpeg=ffmpeg, ffprobe=ffprobe)


async def _run(argv: list[str], time_limit: float) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), time_limit)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _reason(stderr: str, path: Path) -> str:
    text = stderr.replace(f"file:{path}", path.name).replace(str(path), path.name)
    if m := re.search(r"\[(\w+) @ [^\]]*\] Format not on whitelist", text):
        return f"not a video (its content is {m.group(1)}, not a video container)"
    if "Invalid data found when processing input" in text:
        return "not a video (no audio or video data found in it)"
    if "Permission denied" in text:
        return "cannot read it: permission denied"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"not a video ({lines[-1][:200]})" if lines else "not a video"


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


async def _ffprobe(path: Path, tools: MediaTools, time_limit: float) -> ProbeResult:
    assert tools.ffprobe
    code, out, err = await _run([
        tools.ffprobe, "-v", "error", "-format_whitelist", VIDEO_DEMUXERS, "-protocol_whitelist", "file",
        "-show_entries", "format=format_name,duration:stream=codec_type,codec_name,width,height"
        ":stream_disposition=attached_pic", "-of", "json", f"file:{path}"], time_limit)
    if code != 0:
        raise NotAVideo(_reason(err, path))
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError:
        raise NotAVideo("not a video (ffprobe gave no readable answer)") from None
    video = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    fmt = data.get("format") or {}
    if video is None:
        raise NotAVideo("not a video (no video stream in it)")
    return ProbeResult(fmt.get("format_name", "?"), _number(fmt.get("duration")), video.get("width"),
                       video.get("height"), video.get("codec_name"))


_INPUT = re.compile(r"^Input #0, (.+?), from ", re.MULTILINE)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: Video: (\w+)(.*)$", re.MULTILINE)
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")


async def _ffmpeg(path: Path, tools: MediaTools, time_limit: float) -> ProbeResult:
    _code, _out, err = await _run([
        tools.ffmpeg, "-hide_banner", "-nostdin", "-format_whitelist", VIDEO_DEMUXERS,
        "-protocol_whitelist", "file", "-i", f"file:{path}"], time_limit)
    found = _INPUT.search(err)
    if found is None:  # ffmpeg always exits non-zero without an output; the header tells success
        raise NotAVideo(_reason(err, path))
    video = next((m for m in _VIDEO_STREAM.finditer(err) if "attached pic" not in m.group(2)), None)
    if video is None:
        raise NotAVideo("not a video (no video stream in it)")
    duration = None
    if d := _DURATION.search(err):
        duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))
    size = _SIZE.search(video.group(2))
    return ProbeResult(found.group(1), duration, int(size.group(1)) if size else None,
                       int(size.group(2)) if size else None, video.group(1))


async def probe_video(path: Path, tools: MediaTools, time_limit: float = PROBE_TIMEOUT) -> ProbeResult:
    """What the file holds; raises NotAVideo with the reason when it is not a video."""
    try:
        if tools.ffprobe:
            result = await _ffprobe(path, tools, time_limit)
        else:
            result = await _ffmpeg(path, tools, time_limit)
    except TimeoutError:
        raise NotAVideo(f"not a video (probing took longer than {time_limit:.0f} s)") from None
    if result.duration is not None and result.duration <= 0:
        raise NotAVideo("not a video (its duration is zero)")
    return result
