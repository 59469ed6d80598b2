"""Transcode benchmark: the source-copy path against today's full re-encode, in one run, on the same machine.

    .venv/bin/python bench/transcode.py [--seconds 60] [--size 1920x1080] [--overhead]

Generates two sources, a browser-playable H.264 + AAC one and a 10-bit HEVC one, then runs the whole pipeline
(accepted original -> ready video: probe, ladder, thumbnails, publishing with SHA-256 and database records)
on each, once with ``copy_source`` off (today's full re-encode) and once on. For each run it prints the total
time, the time until the video is playable (its first master playlist published) and both as multiples of
real time. Targets: H.264 total <= 0.6x of the full re-encode and playable within 5% of the duration;
HEVC 10-bit (which takes the full path either way) <= 1.05x.

``--overhead`` also times the bare ladder command and one ffmpeg run per rendition against the pipeline
(the earlier benchmark: pipeline overhead <= +5%, one decode faster than one run per rendition).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdrama_tui.config import load_settings
from kdrama_tui.media.binaries import find_binaries
from kdrama_tui.media.encoders import select_encoder
from kdrama_tui.media.ladder import build_ladder_argv, per_rendition_argvs, plan_ladder
from kdrama_tui.media.probe import probe
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import build_services
from kdrama_tui.services.library.metadata import VideoMetadata


def make_source(path: Path, seconds: int, size: str, *, hevc10: bool = False) -> None:
    video = (["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"]
             if hevc10 else ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), *video,
                    "-c:a", "aac", "-ac", "2", str(path)], check=True)


def timed(argv_list: list[list[str]], nice: int) -> float:
    """Run the commands one after another at the pipeline's niceness, as the pipeline runs them."""
    started = time.perf_counter()
    for argv in argv_list:
        subprocess.run(["nice", "-n", str(nice), *argv], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


async def pipeline(root: Path, source: Path, name: str, *, copy_source: bool) -> tuple[float, float, str, str]:
    """Accepted original -> ready: (total seconds, seconds until playable, path taken, status)."""
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(root / f"data-{name}"),
                                  "KDRAMA_TRANSCODE_COPY_SOURCE": "true" if copy_source else "false"})
    svc = await build_services(settings)
    try:
        user = await svc.accounts.create_user("bench", "bench@example.org", "benchmark password", "admin")
        copy = root / f"upload-{name}{source.suffix}"
        shutil.copyfile(source, copy)
        await svc.library.accept_original(uploader_id=user.id, source=copy, original_filename=f"bench{source.suffix}",
                                          metadata=VideoMetadata(title="bench"))
        playable: list[float] = []
        with svc.events.subscription() as inbox:
            started = time.perf_counter()

            async def watch() -> None:
                while True:
                    event = await inbox.get()
                    if event.type in ("video.ready", "video.updated") and event.data.get("playable", True):
                        playable.append(time.perf_counter() - started)
                        return

            watcher = asyncio.create_task(watch())
            await svc.media.queue.run_until_idle()
            total = time.perf_counter() - started
            await asyncio.sleep(0)
            watcher.cancel()
        (job,) = await svc.media.queue.list_jobs()
        status = (await repos_of(svc.db).videos.list())[0].status
        return total, playable[0] if playable else total, (job.get("ladder") or {}).get("path", "?"), status
    finally:
        await svc.close()


async def overhead(root: Path, source: Path) -> None:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(root / "data-overhead"), "KDRAMA_TRANSCODE_COPY_SOURCE":
                                  "false"})
    svc = await build_services(settings)
    try:
        info = await probe(svc.media.binaries, source)
        plan = plan_ladder(info, settings.transcode.ladder, segment_seconds=settings.transcode.segment_seconds,
                           segment_type=settings.transcode.segment_type, preset=settings.transcode.preset)

        def fresh(name: str) -> Path:
            out = root / name
            shutil.rmtree(out, ignore_errors=True)
            for r in plan.renditions:
                (out / r.name).mkdir(parents=True)
            return out

        bare = timed([build_ladder_argv(svc.media.binaries.ffmpeg, source, info, plan, fresh("bare"))],
                     settings.transcode.nice)
        separate = timed(per_rendition_argvs(svc.media.binaries.ffmpeg, source, info, plan, fresh("separate")),
                         settings.transcode.nice)
    finally:
        await svc.close()
    full, _, _, _ = await pipeline(root, source, "overhead-pipeline", copy_source=False)
    print(f"bare ffmpeg {bare:.1f} s, one run per rendition {separate:.1f} s, pipeline {full:.1f} s: "
          f"overhead {100 * (full / bare - 1):+.1f}% (target <= +5%), per-rendition/pipeline "
          f"{separate / full:.2f}x (target > 1)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--overhead", action="store_true", help="also time the bare ladder command")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kdrama-bench-"))
    try:
        h264, hevc = root / "h264.mp4", root / "hevc10.mkv"
        print(f"generating {args.seconds} s {args.size} sources (H.264 + AAC, 10-bit HEVC + AAC)...", flush=True)
        make_source(h264, args.seconds, args.size)
        make_source(hevc, args.seconds, args.size, hevc10=True)
        settings = load_settings(env={"KDRAMA_DATA_DIR": str(root / "data-warmup")})
        await select_encoder(find_binaries(settings.transcode).ffmpeg, settings.transcode.preset,
                             settings.transcode.hardware_encoder)  # probed once per process: not in any timing
        rows = []
        for label, source, target in (("H.264 + AAC", h264, 0.6), ("HEVC 10-bit", hevc, 1.05)):
            for copy_source in (False, True):
                mode = "copy_source on" if copy_source else "full re-encode"
                print(f"{label}: {mode} ...", flush=True)
                total, playable, path, status = await pipeline(root, source, f"{label[:4]}-{copy_source}",
                                                               copy_source=copy_source)
                rows.append((label, mode, total, playable, path, status, target))
        duration = float(args.seconds)
        print()
        print(f"{args.seconds} s {args.size} sources, default ladder")
        print(f"{'source':13}{'run':16}{'path':6}{'total s':>9}{'x real':>8}{'playable s':>12}{'% of dur':>9}"
              f"{'status':>8}")
        for label, mode, total, playable, path, status, _target in rows:
            print(f"{label:13}{mode:16}{path:6}{total:9.1f}{duration / total:8.2f}{playable:12.1f}"
                  f"{100 * playable / duration:8.1f}%{status:>8}")
        for i in (0, 2):
            label, _, full, _, _, _, target = rows[i]
            copy_total, copy_playable = rows[i + 1][2], rows[i + 1][3]
            line = f"{label}: copy/full total {copy_total / full:.2f}x (target <= {target})"
            if i == 0:
                line += f"; playable after {100 * copy_playable / duration:.1f}% of the duration (target <= 5%)"
            print(line)
        if args.overhead:
            await overhead(root, h264)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
