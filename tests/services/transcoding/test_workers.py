"""Worker processes: scale-out on one database, SIGKILL mid-job, graceful stop, ``worker --once``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import build_services
from tests.support.media import accept, admin_user, assert_recorded_files_match_storage, make_clip, wait_until

REPO = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KDRAMA_")}
    env.update(PYTHONPATH=str(REPO), KDRAMA_DATA_DIR=str(settings.data_dir),
               KDRAMA_DATABASE_URL=settings.database_url, KDRAMA_TRANSCODE_SEGMENT_SECONDS="1",
               KDRAMA_TRANSCODE_LEASE_SECONDS="5", KDRAMA_TRANSCODE_POLL_SECONDS="0.3", **extra)
    return env


def start_worker(settings: Settings, log: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "kdrama_tui", "worker", *args], env=worker_env(settings, **extra),
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=REPO)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("episode") / "episode.mp4", size="320x180", seconds=6)


async def test_two_workers_run_each_job_once_and_a_killed_workers_job_still_completes(
        settings: Settings, episode: Path, tmp_path: Path) -> None:
    settings.security.bcrypt_rounds = 4
    svc = await build_services(settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        uid = await admin_user(svc)
        videos = [(await accept(svc, episode, uploader_id=uid, title=f"Episode {i}")).video.id for i in range(10)]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        # "slow" keeps each job running long enough (about a second) to be killed in the middle.
        procs = [start_worker(settings, log, KDRAMA_TRANSCODE_PRESET="slow") for log in logs]
        victim = procs[0]

        async def victim_job():  # type: ignore[no-untyped-def]
            for job in await repos_of(svc.db).jobs.find_by_status("processing"):
                if job.worker_id and f":{victim.pid}:" in job.worker_id and job.progress > 0:
                    return job
            return None

        killed = await wait_until(victim_job, timeout=120, interval=0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)

        async def all_done() -> bool:
            jobs = await repos_of(svc.db).jobs.list()
            return all(j.status == "completed" for j in jobs)

        await wait_until(all_done, timeout=240, interval=0.2)
        assert stop(procs[1]) == 0
        jobs = await repos_of(svc.db).jobs.list()
        assert len(jobs) == 10  # no job failed, none was duplicated
        assert Counter(j.claims for j in jobs) == Counter({1: 9, 2: 1})
        taken_over = next(j for j in jobs if j.claims == 2)
        assert taken_over.id == killed.id
        # The other worker waited for the dead one's lease to run out before starting again from scratch.
        assert taken_over.started_at >= killed.lease_expires_at
        claims = Counter()
        for log in logs:
            for match in re.finditer(r"job (\d+) \(video \d+, attempt 1\) claimed by", log.read_text()):
                claims[int(match.group(1))] += 1
        assert claims == Counter({j.id: j.claims for j in jobs})
        for video_id in videos:
            assert (await repos_of(svc.db).videos.get(video_id)).status == "ready"
            await assert_recorded_files_match_storage(svc, video_id)
        assert list((settings.work_dir / "transcode").iterdir()) == []
        assert not _processes_mentioning(str(settings.work_dir))  # the dead worker's ffmpeg died with it
    finally:
        for proc in procs:
            stop(proc)
        await svc.close()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace"):
                found.append(int(pid))
        except OSError:
            continue
    return found


async def test_sigterm_hands_the_running_job_back_and_worker_once_finishes_it(
        settings: Settings, tmp_path: Path) -> None:
    settings.security.bcrypt_rounds = 4
    clip = make_clip(tmp_path / "long.mp4", size="640x360", seconds=12)
    svc = await build_services(settings)
    try:
        uid = await admin_user(svc)
        accepted = await accept(svc, clip, uploader_id=uid)
        worker = start_worker(settings, tmp_path / "w.log", KDRAMA_TRANSCODE_PRESET="veryslow")

        async def running():  # type: ignore[no-untyped-def]
            job = await repos_of(svc.db).jobs.get(accepted.job.id)
            return job.status == "processing" and job.progress > 0

        await wait_until(running, timeout=60)
        assert stop(worker) == 0
        job = await repos_of(svc.db).jobs.get(accepted.job.id)
        assert (job.status, job.worker_id, job.lease_expires_at) == ("queued", None, None)  # no lease wait
        assert not _processes_mentioning(str(settings.work_dir))
        once = subprocess.run([sys.executable, "-m", "kdrama_tui", "worker", "--once"], env=worker_env(settings),
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert once.returncode == 0, once.stderr
        assert once.stdout.strip() == "processed 1 job(s)"
        assert (await repos_of(svc.db).videos.get(accepted.video.id)).status == "ready"
        assert (await repos_of(svc.db).jobs.get(accepted.job.id)).claims == 2
    finally:
        await svc.close()


def test_worker_with_a_bad_setting_fails_with_one_line(settings: Settings) -> None:
    result = subprocess.run([sys.executable, "-m", "kdrama_tui", "worker", "--once"],
                            env=worker_env(settings, KDRAMA_TRANSCODE_FFMPEG_PATH="/nonexistent/ffmpeg"),
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "kdrama-tui: transcode.ffmpeg_path: /nonexistent/ffmpeg is not an executable file"]
