"""Which H.264 encoder the encoded renditions use: a hardware one where it works, else libx264.

A hardware encoder listed by ``ffmpeg -encoders`` is often not usable (no device, no driver, a GPU without
H.264 encoding), so each candidate is tried with a one-frame encode; the first that succeeds is used. The
probe runs once per ffmpeg binary and process, and what it found (and why the others were not taken) is
logged and shown with each job. ``[transcode] hardware_encoder`` = ``"auto"`` probes, ``"none"`` keeps
libx264, or names one candidate (``h264_vaapi``, ``h264_qsv``, ``h264_nvenc``) to try only that one.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from typing import Any

from kdrama_tui.media.errors import FFmpegError
from kdrama_tui.media.proc import run_capture

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 20.0
HARDWARE_ENCODERS = ("h264_vaapi", "h264_qsv", "h264_nvenc")


@dataclass(frozen=True)
class VideoEncoder:
    name: str  # the ffmpeg encoder
    global_args: tuple[str, ...] = ()  # device set-up before the inputs
    upload: tuple[tuple[str, dict[str, Any]], ...] = ()  # filters ending each branch (to the device's frames)
    options: dict[str, Any] = field(default_factory=dict)  # encoder options beside bitrate and keyframes

    @property
    def is_hardware(self) -> bool:
        return self.name != "libx264"


@dataclass(frozen=True)
class EncoderChoice:
    encoder: VideoEncoder
    reason: str  # e.g. "h264_vaapi on /dev/dri/renderD128" or "libx264 (h264_vaapi: no render node; ...)"


def software(preset: str) -> VideoEncoder:
    return VideoEncoder("libx264", options={"preset": preset, "profile:v": "high", "pix_fmt": "yuv420p"})


def candidates(name: str) -> list[VideoEncoder] | str:
    """The ways to try one hardware encoder here; a string says why there is none."""
    if name == "h264_vaapi":
        nodes = sorted(glob.glob("/dev/dri/renderD*"))
        if not nodes:
            return "no /dev/dri render node"
        return [VideoEncoder(name, ("-vaapi_device", node), (("format", {"pix_fmts": "nv12"}), ("hwupload", {})),
                             {"profile:v": "high"}) for node in nodes]
    if name == "h264_qsv":
        return [VideoEncoder(name, ("-init_hw_device", "qsv=hw", "-filter_hw_device", "hw"),
                             (("format", {"pix_fmts": "nv12"}), ("hwupload", {"extra_hw_frames": 64})),
                             {"preset": "veryfast", "profile:v": "high", "forced_idr": 1})]
    if name == "h264_nvenc":
        return [VideoEncoder(name, (), (("format", {"pix_fmts": "yuv420p"}),),
                             {"preset": "p4", "profile:v": "high", "forced-idr": 1})]
    return f"unknown encoder {name!r}"


def probe_argv(ffmpeg_bin: str, encoder: VideoEncoder) -> list[str]:
    chain = ",".join([f"{name}=" + ":".join(f"{k}={v}" for k, v in opts.items()) if opts else name
                      for name, opts in encoder.upload]) or "null"
    options: list[str] = []
    for key, value in encoder.options.items():
        options += [f"-{key}", str(value)]
    return [ffmpeg_bin, "-hide_banner", "-nostdin", "-v", "error", *encoder.global_args, "-f", "lavfi",
            "-i", "color=c=black:s=256x144:r=25", "-frames:v", "1", "-vf", chain, "-c:v", encoder.name,
            *options, "-b:v", "500k", "-f", "null", "-"]


async def _listed(ffmpeg_bin: str) -> set[str]:
    try:
        code, out, _err = await run_capture([ffmpeg_bin, "-hide_banner", "-encoders"], time_limit=PROBE_TIMEOUT)
    except FFmpegError:
        return set()
    lines = out.decode("utf-8", "replace").splitlines()
    return {parts[1] for line in lines if len(parts := line.split()) > 1} if code == 0 else set()


async def probe_encoders(ffmpeg_bin: str, preset: str, wanted: str = "auto",
                         names: tuple[str, ...] = HARDWARE_ENCODERS) -> EncoderChoice:
    """Try each hardware encoder with a one-frame encode; libx264 when none works (or ``wanted`` is none)."""
    if wanted == "none":
        return EncoderChoice(software(preset), "libx264 (transcode.hardware_encoder is none)")
    tried = names if wanted == "auto" else (wanted,)
    listed = await _listed(ffmpeg_bin)
    failures = []
    for name in tried:
        if name not in listed:
            failures.append(f"{name}: not in this ffmpeg")
            continue
        ways = candidates(name)
        if isinstance(ways, str):
            failures.append(f"{name}: {ways}")
            continue
        for way in ways:
            try:
                code, _out, err = await run_capture(probe_argv(ffmpeg_bin, way), time_limit=PROBE_TIMEOUT)
            except FFmpegError as exc:
                code, err = 1, str(exc).encode()
            if code == 0:
                where = f" on {way.global_args[1]}" if way.global_args else ""
                return EncoderChoice(way, f"{name}{where} (a one-frame test encode worked)")
            last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()][-1:] or ["failed"]
            failures.append(f"{name}: one-frame test encode failed ({last[0].strip()[:160]})")
    return EncoderChoice(software(preset), "libx264 (" + "; ".join(failures) + ")")


_chosen: dict[tuple[str, str, str], EncoderChoice] = {}


async def select_encoder(ffmpeg_bin: str, preset: str, wanted: str = "auto") -> EncoderChoice:
    """The encoder for this process's jobs, probed once and logged (two jobs racing probe twice: harmless)."""
    key = (ffmpeg_bin, preset, wanted)
    if key not in _chosen:
        choice = await probe_encoders(ffmpeg_bin, preset, wanted)
        log.info("video encoder: %s", choice.reason)
        _chosen[key] = choice
    return _chosen[key]
