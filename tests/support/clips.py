"""Clips shared by the media and transcoding tests, made once per session with real ffmpeg (a few seconds)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.media import make_clip


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {
        "basic": make_clip(d / "basic.mp4", size="320x180", seconds=3),
        "odd": make_clip(d / "odd.mkv", size="1278x719", seconds=2),
        "portrait": make_clip(d / "portrait.mp4", size="180x320", seconds=2),
        "silent": make_clip(d / "silent.mp4", size="320x180", seconds=2, audio=False),
        "hevc10": make_clip(d / "hevc10.mkv", size="320x180", seconds=2, vcodec="libx265", pix_fmt="yuv420p10le"),
        "tiny": make_clip(d / "tiny.mp4", size="160x90", seconds=2),
        "faststart": make_clip(d / "faststart.mp4", size="320x180", seconds=4,
                               container_args=["-movflags", "+faststart"]),
    }
    rotated = d / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["basic"]), "-c", "copy", "-metadata:s:v:0",
                    "rotate=90", str(rotated)], check=True, timeout=60)
    out["rotated"] = rotated
    # Variable frame rate: frames at irregular times (setpts with a random-ish jitter), kept as VFR.
    vfr = d / "vfr.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "3",
                    "-vf", "setpts='N/30/TB+0.02*sin(N)/TB'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                    "ultrafast", str(vfr)], check=True, timeout=60)
    out["vfr"] = vfr
    # Matroska with an embedded English SRT track.
    srt = d / "embedded.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,500\nEmbedded <i>line</i> & bye\n\n", encoding="utf-8")
    mkv = d / "withsubs.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["basic"]), "-i", str(srt), "-map", "0", "-map", "1",
                    "-c", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(mkv)], check=True, timeout=60)
    out["withsubs"] = mkv
    truncated = d / "truncated.mp4"
    data = out["faststart"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out["truncated"] = truncated
    nomoov = d / "nomoov.mp4"
    data = out["basic"].read_bytes()
    nomoov.write_bytes(data[: int(len(data) * 0.6)])  # moov is at the end without faststart: cut off
    out["nomoov"] = nomoov
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 50, encoding="utf-8")
    out["text"] = text
    jpeg = d / "still.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1",
                    "-f", "image2", str(jpeg)], check=True, timeout=60)
    out["jpeg"] = jpeg
    audio = d / "audio.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "aac", str(audio)],
                   check=True, timeout=60)
    out["audio"] = audio
    return out
