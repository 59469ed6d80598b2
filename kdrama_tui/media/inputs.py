"""Opening untrusted media with ffmpeg and ffprobe: the one place their input options come from.

Uploads and the watch folder hand arbitrary bytes to the pipeline, and ffmpeg picks a demuxer from the
content, not the name. Some demuxers open further URLs named inside the file: an HLS playlist (``#EXTM3U``)
or a concat list (``ffconcat version 1.0``) saved as ``episode.mp4`` makes ffmpeg read ``/etc/passwd``,
another user's original or ``http://127.0.0.1:.../`` (the classic ffmpeg local-file-read / SSRF), and a
live playlist keeps ffprobe reloading it until it is killed. So every input is opened as a ``file:`` URL
with two whitelists, which libavformat checks before a demuxer parses anything:

* ``-protocol_whitelist file``: no network, no ``pipe:``/``fd:``/``subfile:``/``concat:`` tricks; nested
  opens inherit it.
* ``-format_whitelist`` of container demuxers that read only their own bytes. Detection looks at the
  input's own first bytes; a file detected as anything else (playlist, concat list, manifest, image,
  subtitle, text) fails with "Format not on whitelist" at once, having opened nothing else. (The mov
  demuxer could follow external data references only with ``enable_drefs``, which is off by default.)

Subtitle sidecars (SRT, VTT, ASS, SMI) never reach ffmpeg: they are parsed in Python (``subtitles.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kdrama_tui.media.errors import InputError

PROTOCOL_WHITELIST = "file"
# libavformat demuxer names (an alias such as "webm" or "mp4" matches its demuxer's full name too).
VIDEO_DEMUXERS = (
    "mov",  # mov,mp4,m4a,3gp,3g2,mj2
    "matroska",  # matroska,webm
    "avi",
    "mpegts",
    "flv",
    "asf",  # wmv/asf
    "mpeg",  # MPEG-PS: .mpg, .vob
    "ogg",
)
FORMAT_WHITELIST = ",".join(VIDEO_DEMUXERS)

_NOT_ON_WHITELIST = re.compile(r"^\[(?P<fmt>[\w,]+) @ [^\]]*\] Format not on whitelist", re.MULTILINE)
_DESCRIPTIONS = {
    "hls": "an HLS playlist", "applehttp": "an HLS playlist", "concat": "a concat list", "dash": "a DASH manifest",
    "webm_dash_manifest": "a DASH manifest", "sdp": "an SDP session description", "tty": "text",
    "ffmetadata": "an ffmetadata file", "srt": "a subtitle file", "ass": "a subtitle file",
    "webvtt": "a subtitle file", "sami": "a subtitle file", "image2": "a still image",
}


def input_url(path: Path) -> str:
    """``file:`` makes ffmpeg treat the whole string as a path: a name like ``http:x`` is only a file name."""
    return f"file:{path}"


def input_options(format_name: str | None = None) -> dict[str, Any]:
    """ffmpeg-python ``input()`` keyword options for an untrusted file (``format_name`` forces the demuxer
    the probe found; the whitelist still applies to it)."""
    options: dict[str, Any] = {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}
    if format_name:
        options["f"] = format_name
    return options


def input_argv(path: Path, format_name: str | None = None) -> list[str]:
    """The argv fragment opening an untrusted file, ending with ``-i file:<path>`` (ffmpeg and ffprobe)."""
    argv: list[str] = []
    for key, value in input_options(format_name).items():
        argv += [f"-{key}", str(value)]
    return [*argv, "-i", input_url(path)]


def describe_format(name: str) -> str:
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    if name.endswith("_pipe"):  # jpeg_pipe, png_pipe, webp_pipe...
        return "a still image"
    return f"{name!r} data"


def refused_format(stderr: str, name: str) -> InputError | None:
    """The clear error for an input whose detected format is not on the whitelist, else None."""
    match = _NOT_ON_WHITELIST.search(stderr)
    if match is None:
        return None
    detected = match.group("fmt").split(",")[0]
    return InputError(f"{name} is not a video container we accept (it is {describe_format(detected)}); "
                      f"accepted: MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV, ASF/WMV, MPEG-PS, Ogg")
