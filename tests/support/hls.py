"""A real HLS output in the brief's layout, made by running ffmpeg directly on a tiny generated clip.

Until the media pipeline is merged, tests of streaming build their videos here: a 2-rendition fMP4
ladder (``180p``, ``90p``) with ``init.mp4`` + ``seg_00001.m4s``..., a master playlist with CODECS and a
SUBTITLES group of Korean and English WebVTT (``subs/<lang>.vtt`` + ``.m3u8``), ``poster.jpg`` and a
seek-preview sprite (``thumbs/sprite.jpg`` + ``thumbs/thumbs.vtt``). :func:`install_video` stores a copy
through the Storage interface under ``videos/<id>/hls/`` and records the ``video_files`` rows.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kdrama_tui.models import Video, utcnow
from kdrama_tui.repositories import repos_of

SECONDS = 10
SEGMENT_SECONDS = 2
RENDITIONS = [("180p", 320, 180, "400k"), ("90p", 160, 90, "150k")]
SUBTITLES = [
    ("ko", "한국어", ["안녕하세요, 반갑습니다.", "사랑의 불시착", "고마워요!"]),
    ("en", "English", ["Hello, nice to meet you.", "Crash Landing on You", "Thank you!"]),
]
THUMB_W, THUMB_H, THUMB_COLUMNS = 80, 45, 3


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.strip()[-2000:]}")


def _vtt_time(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"00:{int(minutes):02d}:{secs:06.3f}"


def build_hls(out: Path) -> Path:
    """Write the whole HLS folder into ``out`` (which must not exist) and return it."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not on PATH (scripts/setup.sh installs it)")
    out.mkdir(parents=True)
    source = [f"testsrc2=size=320x180:rate=24:duration={SECONDS}"]
    split = "".join(f"[v{i}]" for i in range(len(RENDITIONS)))
    filters = [f"[0:v]split={len(RENDITIONS)}{split}"]
    filters += [f"[v{i}]scale={w}:{h}[o{i}]" for i, (_, w, h, _) in enumerate(RENDITIONS)]
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source[0],
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}:sample_rate=48000",
            "-filter_complex", ";".join(filters)]
    for i in range(len(RENDITIONS)):
        argv += ["-map", f"[o{i}]", "-map", "1:a"]
    for i, (_, _, _, rate) in enumerate(RENDITIONS):
        argv += [f"-b:v:{i}", rate]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "48", "-keyint_min", "48",
             "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-ac", "2",
             "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
             "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1",
             "-hls_segment_filename", str(out / "%v" / "seg_%05d.m4s"), "-master_pl_name", "ffmpeg_master.m3u8",
             "-var_stream_map", " ".join(f"v:{i},a:{i},name:{n}" for i, (n, *_rest) in enumerate(RENDITIONS)),
             str(out / "%v" / "index.m3u8")]
    _run(argv)
    # ffmpeg numbers init files per variant (init_0.mp4); the layout wants init.mp4 in each folder.
    for i, (name, *_rest) in enumerate(RENDITIONS):
        (out / name / f"init_{i}.mp4").rename(out / name / "init.mp4")
        playlist = out / name / "index.m3u8"
        playlist.write_text(playlist.read_text().replace(f'URI="init_{i}.mp4"', 'URI="init.mp4"'))
    variants = [line for line in (out / "ffmpeg_master.m3u8").read_text().splitlines() if line.strip()][2:]
    (out / "ffmpeg_master.m3u8").unlink()
    master = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for lang, label, _ in SUBTITLES:
        master.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{label}",LANGUAGE="{lang}",'
                      f'DEFAULT=NO,AUTOSELECT=YES,URI="subs/{lang}.m3u8"')
    for line in variants:
        master.append(line + ',SUBTITLES="subs"' if line.startswith("#EXT-X-STREAM-INF") else line)
    (out / "master.m3u8").write_text("\n".join(master) + "\n")

    (out / "subs").mkdir()
    for lang, _, lines in SUBTITLES:
        step = SECONDS / len(lines)
        cues = [f"{i + 1}\n{_vtt_time(i * step)} --> {_vtt_time((i + 1) * step)}\n{text}\n"
                for i, text in enumerate(lines)]
        (out / "subs" / f"{lang}.vtt").write_text("WEBVTT\n\n" + "\n".join(cues), encoding="utf-8")
        (out / "subs" / f"{lang}.m3u8").write_text(
            f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{SECONDS}\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{SECONDS:.3f},\n{lang}.vtt\n#EXT-X-ENDLIST\n")

    _run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source[0], "-vf", "select=eq(n\\,24)",
          "-frames:v", "1", "-update", "1", str(out / "poster.jpg")])
    (out / "thumbs").mkdir()
    rows = -(-SECONDS // THUMB_COLUMNS)
    _run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source[0],
          "-vf", f"fps=1,scale={THUMB_W}:{THUMB_H},tile={THUMB_COLUMNS}x{rows}", "-frames:v", "1", "-update", "1",
          str(out / "thumbs" / "sprite.jpg")])
    cues = []
    for i in range(SECONDS):
        x, y = (i % THUMB_COLUMNS) * THUMB_W, (i // THUMB_COLUMNS) * THUMB_H
        cues.append(f"{_vtt_time(i)} --> {_vtt_time(i + 1)}\nsprite.jpg#xywh={x},{y},{THUMB_W},{THUMB_H}\n")
    (out / "thumbs" / "thumbs.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))
    return out


_MIME = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
         ".vtt": "text/vtt", ".jpg": "image/jpeg"}


def file_type_of(rel: str) -> tuple[str, str | None, str | None]:
    """The ``video_files`` kind (and subtitle language/label) of a path inside the hls folder."""
    if rel == "master.m3u8":
        return "master_playlist", None, None
    if rel == "poster.jpg":
        return "thumbnail", None, None
    if rel == "thumbs/sprite.jpg":
        return "sprite", None, None
    if rel == "thumbs/thumbs.vtt":
        return "sprite_vtt", None, None
    if rel.startswith("subs/"):
        lang = Path(rel).stem
        return "subtitle", lang, dict((code, label) for code, label, _ in SUBTITLES).get(lang)
    return f"transcoded_{rel.split('/')[0]}", None, None


async def install_video(svc: Any, source: Path, *, owner_id: int, title: str = "Crash Landing on You",
                        is_public: bool = True, description: str | None = None, genre: str | None = "Romance",
                        year: int | None = 2019, actors: list[str] | None = None, status: str = "ready") -> Video:
    """A video whose HLS files are stored through ``svc.storage`` with their rows, as the pipeline does."""
    video = await repos_of(svc.db).videos.create({
        "title": title, "description": description, "genre": genre, "year": year,
        "actors": actors if actors is not None else ["Hyun Bin", "Son Ye-jin"], "is_public": is_public,
        "uploader_user_id": owner_id, "status": "processing"})
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        key = f"videos/{video.id}/hls/{rel}"
        stored = await svc.storage.put_file(key, path)
        kind, lang, label = file_type_of(rel)
        await repos_of(svc.db).video_files.create({
            "video_id": video.id, "file_type": kind, "storage_provider": svc.storage.provider, "file_path": key,
            "file_size": stored.size, "checksum": hashlib.sha256(path.read_bytes()).hexdigest(),
            "mime_type": _MIME.get(path.suffix), "language": lang, "label": label})
    video = await repos_of(svc.db).videos.update(video.id, {"status": status, "duration_seconds": SECONDS,
                                                        "updated_at": utcnow()})
    svc.events.publish("video.ready", video_id=video.id)
    return video
