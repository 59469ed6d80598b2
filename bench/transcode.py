"""Transcode benchmark: the whole pipeline vs the bare ffmpeg command it runs vs one ffmpeg run per rendition.

    /work/main/.venv/bin/python bench/transcode.py [--seconds 60] [--size 1920x1080]

Generates a clip, then in the same run times (p) the pipeline from an accepted original to a ``ready`` video
(probe, one-run ladder, thumbnails, publishing with SHA-256 and database records), (a) the exact ladder
command the pipeline runs, executed directly, and (b) the same ladder as one ffmpeg run per rendition.
Prints the ratios and the speed as a multiple of real time. Targets: p/a <= 1.05, b/p > 1.
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
from kdrama_tui.media.ladder import build_ladder_argv, per_rendition_argvs, plan_ladder
from kdrama_tui.media.probe import probe
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import build_services
from kdrama_tui.services.library.metadata import VideoMetadata


def make_source(path: Path, seconds: int, size: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(path)], check=True)


def timed(argv_list: list[list[str]], nice: int) -> float:
    """Run the commands one after another at the pipeline's niceness, as the pipeline runs them."""
    started = time.perf_counter()
    for argv in argv_list:
        subprocess.run(["nice", "-n", str(nice), *argv], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kdrama-bench-"))
    try:
        source = root / "source.mp4"
        print(f"generating a {args.seconds} s {args.size} clip...", flush=True)
        make_source(source, args.seconds, args.size)
        settings = load_settings(env={"KDRAMA_DATA_DIR": str(root / "data")})
        svc = await build_services(settings)
        try:
            info = await probe(svc.media.binaries, source)
            plan = plan_ladder(info, settings.transcode.ladder, segment_seconds=settings.transcode.segment_seconds,
                               segment_type=settings.transcode.segment_type, preset=settings.transcode.preset)
            rungs = "/".join(r.name for r in plan.renditions)

            def fresh(name: str) -> Path:
                out = root / name
                shutil.rmtree(out, ignore_errors=True)
                for r in plan.renditions:
                    (out / r.name).mkdir(parents=True)
                return out

            bare_argv = build_ladder_argv(svc.media.binaries.ffmpeg, source, info, plan, fresh("bare"))
            print(f"(a) bare ffmpeg, one run, {rungs} ...", flush=True)
            bare = timed([bare_argv], settings.transcode.nice)
            print(f"(b) one ffmpeg run per rendition ({len(plan.renditions)} runs) ...", flush=True)
            separate = timed(per_rendition_argvs(svc.media.binaries.ffmpeg, source, info, plan, fresh("separate")),
                             settings.transcode.nice)
            print("(p) pipeline: accepted original -> ready ...", flush=True)
            user = await svc.accounts.create_user("bench", "bench@example.org", "benchmark password", "admin")
            copy = root / "upload.mp4"
            shutil.copyfile(source, copy)
            await svc.library.accept_original(uploader_id=user.id, source=copy, original_filename="bench.mp4",
                                              metadata=VideoMetadata(title="bench"))
            started = time.perf_counter()
            await svc.media.queue.run_until_idle()
            pipeline = time.perf_counter() - started
            status = (await repos_of(svc.db).videos.list())[0].status
        finally:
            await svc.close()
        duration = info.duration
        print()
        print(f"source: {duration:.0f} s {args.size}, ladder {rungs}, preset {settings.transcode.preset}, "
              f"segments {settings.transcode.segment_type}; pipeline result: {status}")
        print(f"{'':38}{'seconds':>9}{'x real time':>13}")
        for label, value in (("(a) bare ffmpeg (same command)", bare), ("(b) one ffmpeg run per rendition", separate),
                             ("(p) pipeline, original -> ready", pipeline)):
            print(f"{label:38}{value:9.1f}{duration / value:13.2f}")
        print(f"pipeline overhead over bare ffmpeg: {100 * (pipeline / bare - 1):+.1f}% (target <= +5%)")
        print(f"per-rendition runs / pipeline: {separate / pipeline:.2f}x (target > 1: one decode is faster)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
