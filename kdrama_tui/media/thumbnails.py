"""Poster and seek-preview sprite.

The poster is the most representative frame (ffmpeg's ``thumbnail`` filter, which skips black and
transition frames) of a short window about 10% into the video, reached by a fast input seek. The sprite is a
grid of small frames taken from keyframes only (``-skip_frame nokey``: PERFORMANCE.md measured 0.39 s vs
4.8 s for a full decode of 60 s; decoders that cannot skip, such as Theora, fall back to a full decode), with a
WebVTT track whose cues point into it (``sprite.jpg#xywh=x,y,w,h``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from kdrama_tui.media.errors import FFmpegError
from kdrama_tui.media.ladder import input_stream
from kdrama_tui.media.probe import MediaInfo
from kdrama_tui.media.proc import run_capture

POSTER_MAX_HEIGHT = 720
POSTER_WINDOW_SECONDS = 2.0
TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_MAX_TILES = 100
SPRITE_MIN_INTERVAL = 2.0
THUMBNAIL_TIMEOUT = 600.0


def _even(value: float) -> int:
    return max(2, round(value / 2.0) * 2)


async def make_poster(ffmpeg_bin: str, source: Path, info: MediaInfo, target: Path, *, nice: int = 0) -> None:
    assert info.video is not None
    display_w, display_h = info.video.display_size
    height = min(_even(display_h), POSTER_MAX_HEIGHT)
    width = _even(display_w * height / display_h)
    seek = info.duration * 0.10
    window = max(1, min(100, int(float(info.video.frame_rate or 25) * POSTER_WINDOW_SECONDS)))
    stream = (input_stream(source, info, ss=f"{seek:.3f}")[str(info.video.index)]
              .filter("thumbnail", n=window).filter("scale", width, height).filter("setsar", "1"))
    argv = (ffmpeg.output(stream, f"file:{target}", vframes=1, f="image2", update=1, **{"q:v": 3})
            .global_args("-hide_banner", "-nostdin", "-v", "error")
            .compile(cmd=ffmpeg_bin, overwrite_output=True))
    await _run(argv, target, "poster", nice)


@dataclass(frozen=True)
class SpriteLayout:
    interval: float
    tiles: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int


def sprite_layout(info: MediaInfo) -> SpriteLayout:
    assert info.video is not None
    display_w, display_h = info.video.display_size
    interval = max(SPRITE_MIN_INTERVAL, math.ceil(info.duration / SPRITE_MAX_TILES))
    tiles = max(1, math.ceil(info.duration / interval))
    columns = min(SPRITE_COLUMNS, tiles)
    return SpriteLayout(interval=float(interval), tiles=tiles, columns=columns, rows=math.ceil(tiles / columns),
                        tile_width=TILE_WIDTH, tile_height=_even(TILE_WIDTH * display_h / display_w))


async def make_sprite(ffmpeg_bin: str, source: Path, info: MediaInfo, sprite: Path, vtt: Path, *,
                      nice: int = 0) -> SpriteLayout:
    """Write the sprite JPEG and its WebVTT thumbnail track (cue URIs are relative: ``sprite.jpg#xywh=``)."""
    assert info.video is not None
    layout = sprite_layout(info)
    try:
        await _run(_sprite_argv(ffmpeg_bin, source, info, layout, sprite, keyframes_only=True), sprite,
                   "preview sprite", nice)
    except FFmpegError:  # some decoders (Theora) refuse to skip frames: decode them all instead
        await _run(_sprite_argv(ffmpeg_bin, source, info, layout, sprite, keyframes_only=False), sprite,
                   "preview sprite", nice)
    vtt.write_text(render_sprite_vtt(layout, info.duration, sprite.name), encoding="utf-8")
    return layout


def _sprite_argv(ffmpeg_bin: str, source: Path, info: MediaInfo, layout: SpriteLayout, sprite: Path, *,
                 keyframes_only: bool) -> list[str]:
    assert info.video is not None
    options = {"skip_frame": "nokey"} if keyframes_only else {}
    stream = (input_stream(source, info, **options)[str(info.video.index)]
              .filter("fps", fps=f"1/{layout.interval:g}", round="down", eof_action="pass")
              .filter("scale", layout.tile_width, layout.tile_height).filter("setsar", "1")
              .filter("tile", f"{layout.columns}x{layout.rows}"))
    return (ffmpeg.output(stream, f"file:{sprite}", vframes=1, f="image2", update=1, **{"q:v": 5})
            .global_args("-hide_banner", "-nostdin", "-v", "error")
            .compile(cmd=ffmpeg_bin, overwrite_output=True))


def render_sprite_vtt(layout: SpriteLayout, duration: float, sprite_name: str) -> str:
    blocks = ["WEBVTT"]
    for i in range(layout.tiles):
        start = i * layout.interval
        end = min(duration, start + layout.interval)
        if end <= start:
            break
        x = (i % layout.columns) * layout.tile_width
        y = (i // layout.columns) * layout.tile_height
        blocks.append(f"{_ts(start)} --> {_ts(end)}\n"
                      f"{sprite_name}#xywh={x},{y},{layout.tile_width},{layout.tile_height}")
    return "\n\n".join(blocks) + "\n"


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


async def _run(argv: list[str], target: Path, what: str, nice: int) -> None:
    code, _out, err = await run_capture(argv, time_limit=THUMBNAIL_TIMEOUT, nice=nice)
    if code != 0 or not target.is_file() or target.stat().st_size == 0:
        tail = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()][-10:]
        raise FFmpegError(f"ffmpeg could not make the {what}", tail)
