"""``kdrama-tui demo``: three short sample clips through the whole pipeline, for a newcomer to watch.

Makes the clips with ffmpeg (test pattern and a tone; three sizes; one with Korean and English subtitle
sidecars, one named like an episode), drops them into the first watch folder the way a careful uploader
would (copied under a hidden name, then renamed), and waits until they are ready, printing progress.
If a server answers at ``server.public_url`` / ``host:port``, that server takes them; otherwise the
watcher and the transcode queue run here until the clips are done.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp

from kdrama_tui.commands.common import CommandError, open_services
from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.services.ingest.importer import FAILED_DIR

KO_SRT = """1
00:00:00,000 --> 00:00:02,000
서울의 밤에 오신 것을 환영합니다.

2
00:00:02,000 --> 00:00:04,000
이것은 kdrama-tui 데모 영상입니다.
"""

EN_SRT = """1
00:00:00,000 --> 00:00:02,000
Welcome to Seoul at night.

2
00:00:02,000 --> 00:00:04,000
This is a kdrama-tui demo clip.
"""


@dataclass(frozen=True)
class Clip:
    filename: str
    width: int
    height: int
    seconds: int
    tone_hz: int
    subtitles: tuple[tuple[str, str], ...] = ()  # (language tag, SRT text)


CLIPS = (
    Clip("서울의 밤 (2024).mp4", 640, 360, 4, 440, (("ko", KO_SRT), ("en", EN_SRT))),
    Clip("Sample Drama.S01E02.mp4", 426, 240, 3, 523),
    Clip("Han River Walk (2023).mkv", 320, 180, 3, 659),
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="make three sample clips and run them through the pipeline")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up after this many seconds (default 1800)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    async def main() -> None:
        async with open_services(args) as svc:
            await demo(svc, time_limit=args.timeout)

    asyncio.run(main())
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


async def _ffmpeg(argv: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise CommandError(f"ffmpeg could not make the sample clips: {tail[0]}")


async def make_clips(svc: Services, folder: Path) -> list[Path]:
    """Write the sample clips and their subtitles into ``folder``; return the clips' paths."""
    ffmpeg = svc.media.binaries.ffmpeg
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for clip in CLIPS:
        target = folder / clip.filename
        await _ffmpeg([
            ffmpeg, "-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc=size={clip.width}x{clip.height}:rate=25:duration={clip.seconds}",
            "-f", "lavfi", "-i", f"sine=frequency={clip.tone_hz}:sample_rate=48000:duration={clip.seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50",
            "-c:a", "aac", "-b:a", "64k", "-shortest", "-map_metadata", "-1",
            # Same bytes on every run, so running the demo again finds its clips already in the library.
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", f"file:{target}"])
        for language, text in clip.subtitles:
            target.with_name(f"{target.stem}.{language}.srt").write_text(text, encoding="utf-8")
        paths.append(target)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _drop(source: Path, watch: Path) -> Path:
    """Copy into the watch folder under a hidden name, then rename: the watcher never sees half a file."""
    target = watch / source.name
    hidden = watch / f".{source.name}.{uuid.uuid4().hex[:8]}.tmp"
    shutil.copyfile(source, hidden)
    hidden.rename(target)
    return target


async def server_running(svc: Services) -> str | None:
    """The base URL of a server that answers /healthz, or None."""
    url = svc.settings.server.base_url
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session, \
                session.get(f"{url}/healthz") as response:
            return url if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


@dataclass
class _Progress:
    name: str
    sha256: str
    dropped_at: float
    line: str = ""
    video: Video | None = None


async def demo(svc: Services, *, time_limit: float = 1800.0, until: Literal["queued", "ready"] = "ready",
               say: Callable[[str], None] = _say) -> list[Video]:
    """Run the demo; return the three videos once each is ``until`` (queued, or ready to play)."""
    watch = svc.settings.watch_dirs[0]
    watch.mkdir(parents=True, exist_ok=True)
    scratch = svc.settings.work_dir / f"demo-{uuid.uuid4().hex[:8]}"
    say("making 3 sample clips with ffmpeg...")
    try:
        clips = await make_clips(svc, scratch)
        progress: list[_Progress] = []
        for clip in clips:
            sha = await asyncio.to_thread(_sha256, clip)
            existing = await repos_of(svc.db).videos.find_one_by(source_sha256=sha)
            if existing is not None:
                say(f"  {clip.name}: already in the library as video {existing.id}")
            else:
                for sidecar in sorted(scratch.glob(f"{clip.stem}.*.srt")):
                    await asyncio.to_thread(_drop, sidecar, watch)  # subtitles first: they travel with it
                await asyncio.to_thread(_drop, clip, watch)
                say(f"  dropped {clip.name} into {watch}")
            progress.append(_Progress(clip.name, sha, time.monotonic()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    url = await server_running(svc)
    if url:
        say(f"a server is running at {url}: it takes the clips from the watch folder")
    else:
        say("no server running: the watcher and the transcode queue run here until the clips are ready")
        if not svc.ingester.started:
            svc.settings.ingest.enabled = True
            await svc.start_background(queue=True, ingest=True, schedules=False)
    videos = await _wait(svc, progress, watch, time_limit, until, server=bool(url), say=say)
    if until == "ready":
        base = url or svc.settings.server.base_url
        say("all 3 clips are ready. Start the server (kdrama-tui serve) if it is not running, then open:")
        for video in videos:
            say(f"  {base}/watch/{video.id}   {video.title}")
    return videos


async def _wait(svc: Services, progress: list[_Progress], watch: Path, time_limit: float,
                until: Literal["queued", "ready"], *, server: bool, say: Callable[[str], None]) -> list[Video]:
    deadline = time.monotonic() + time_limit
    patience = svc.settings.ingest.quiet_seconds + 60  # how long a running server may take to notice a file
    while True:
        for item in progress:
            item.video = await repos_of(svc.db).videos.find_one_by(source_sha256=item.sha256)
            line = await _describe(svc, item, watch, server, patience)
            if line != item.line:
                item.line = line
                say(f"  {item.name}: {line}")
        videos = [p.video for p in progress if p.video is not None]
        if any(v.status == "failed" for v in videos):
            raise CommandError("a sample clip failed to transcode; see the job's error with the dashboard")
        if len(videos) == len(progress) and (until == "queued" or all(v.status == "ready" for v in videos)):
            return videos
        if time.monotonic() > deadline:
            raise CommandError(f"the sample clips were not {until} after {time_limit:.0f} s")
        await asyncio.sleep(0.5)


async def _describe(svc: Services, item: _Progress, watch: Path, server: bool, patience: float) -> str:
    if item.video is None:
        error_file = watch / FAILED_DIR / f"{item.name}.error.txt"
        if error_file.exists():
            reason = error_file.read_text(encoding="utf-8").splitlines()[1:2] or ["see " + str(error_file)]
            raise CommandError(f"{item.name} was not imported: {reason[0]}")
        if server and time.monotonic() - item.dropped_at > patience:
            raise CommandError(f"the running server has not taken {item.name} from {watch} after "
                               f"{patience:.0f} s; is [ingest] enabled there and watching this folder?")
        return "waiting in the watch folder until it is complete"
    video = item.video
    if video.status == "ready":
        return f"ready (video {video.id})"
    if video.status == "failed":
        return f"failed (video {video.id})"
    jobs = await repos_of(svc.db).jobs.find_by_video(video.id)
    job = jobs[-1] if jobs else None
    if job is None or job.status == "queued":
        return f"imported as video {video.id} \"{video.title}\", queued for transcoding"
    return f"transcoding {job.progress // 10 * 10}%"
