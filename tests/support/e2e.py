"""Helpers for end-to-end tests that run the real pipeline: clips, subtitle sidecars (Korean in CP949),
uploads through the chunk API, and a walk over every URI a player would fetch from ``/hls/<id>/``."""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import m3u8
from aiohttp.test_utils import TestClient

from tests.support.uploads import Account, create_upload, upload_all

# Two renditions no taller than the 180p clip: the ladder never upscales.
E2E_LADDER = [
    {"name": "180p", "height": 180, "video_bitrate": "300k", "audio_bitrate": "64k"},
    {"name": "144p", "height": 144, "video_bitrate": "150k", "audio_bitrate": "48k"},
]

KOREAN_LINES = ["안녕하세요, 반갑습니다.", "사랑의 불시착"]
ENGLISH_LINES = ["Hello, nice to meet you.", "Crash Landing on You"]

CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
                 ".ts": "video/mp2t", ".vtt": "text/vtt", ".jpg": "image/jpeg"}


def make_sine_clip(path: Path, *, seconds: float = 4, size: str = "320x180") -> Path:
    """H.264 test pattern + AAC 1 kHz sine, as a phone or encoder would hand it over."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24",
                    "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(path)], check=True, capture_output=True, timeout=120)
    return path


def _srt(lines: list[str]) -> str:
    cues = [f"{i + 1}\n00:00:0{i * 2},000 --> 00:00:0{i * 2 + 1},900\n{text}\n" for i, text in enumerate(lines)]
    return "\n".join(cues)


def write_subtitles(folder: Path) -> dict[str, Path]:
    """A Korean SRT in CP949 (how Korean releases ship) and an English one in UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    ko = folder / "episode01.ko.srt"
    ko.write_bytes(_srt(KOREAN_LINES).encode("cp949"))
    en = folder / "episode01.en.srt"
    en.write_text(_srt(ENGLISH_LINES), encoding="utf-8")
    return {"ko": ko, "en": en}


async def upload_via_chunks(client: TestClient, account: Account, data: bytes, *, chunks: int = 5,
                            seed: int = 11, **metadata: Any) -> int:
    """Create an upload, send the chunks in shuffled order, complete it; return the new video's id."""
    upload = await create_upload(client, account, data, total_chunks=chunks, filename="episode01.mp4",
                                 metadata={"title": "Episode 1", **metadata})
    order = list(range(chunks))
    random.Random(seed).shuffle(order)
    await upload_all(client, account, upload, data, order=order, parallel=3)
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=account.headers)
    assert response.status == 202, await response.text()
    return int((await response.json())["video_id"])


@dataclass
class Walk:
    master: m3u8.M3U8
    variants: dict[str, m3u8.M3U8] = field(default_factory=dict)  # path -> playlist
    media: dict[str, bytes] = field(default_factory=dict)  # path (no query) -> body
    statuses: list[tuple[str, int, str]] = field(default_factory=list)


def _join(folder: str, uri: str) -> str:
    return f"{folder}/{uri}" if folder else uri


async def walk_hls(client: TestClient, master_url: str, *, follow_redirects: bool = True) -> Walk:
    """Fetch the master playlist at ``master_url`` (as given by the playback API, query included), then
    every variant/subtitle playlist and every init segment, segment and VTT they list, exactly as listed.
    Asserts each answers 200 with the right content type."""
    parts = urlsplit(master_url)
    base = parts.path.rsplit("/", 1)[0] + "/"
    resp = await client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert resp.status == 200, (master_url, resp.status)
    assert resp.content_type == CONTENT_TYPES[".m3u8"]
    walk = Walk(m3u8.loads(await resp.text()))
    children = [p.uri for p in walk.master.playlists] + [m.uri for m in walk.master.media if m.uri]
    for uri in children:
        resp = await client.get(base + uri, allow_redirects=follow_redirects)
        path = urlsplit(uri).path
        walk.statuses.append((path, resp.status, resp.content_type))
        assert resp.status == 200, (uri, resp.status)
        assert resp.content_type == CONTENT_TYPES[".m3u8"], uri
        playlist = m3u8.loads(await resp.text())
        walk.variants[path] = playlist
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        media = [m.uri for m in playlist.segment_map] + [s.uri for s in playlist.segments]
        assert media, uri
        for child in media:
            child_path = _join(folder, urlsplit(child).path)
            got = await client.get(base + _join(folder, child), allow_redirects=follow_redirects)
            walk.statuses.append((child_path, got.status, got.content_type))
            assert got.status == 200, (child, got.status)
            suffix = "." + child_path.rsplit(".", 1)[1]
            assert got.content_type == CONTENT_TYPES[suffix], (child, got.content_type)
            walk.media[child_path] = await got.read()
            assert walk.media[child_path], child
    return walk
