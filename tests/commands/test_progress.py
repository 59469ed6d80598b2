"""Long commands show progress: a bar on a terminal, parseable lines in a pipe, the result as JSON for scripts."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdrama_tui.commands.progress import Progress
from kdrama_tui.config import Settings, load_settings
from kdrama_tui.db import open_database
from kdrama_tui.services.container import build_services
from tests.services.backup.support import fill
from tests.services.maintenance.test_storage_migration import make_library
from tests.support.ingest import REPO_ROOT, cli_env, fast_settings, make_clip, run_cli
from tests.support.s3 import S3Bucket

LINE = re.compile(r"^progress (?P<name>[a-z]+)(?: (?P<done>\d+)/(?P<total>\d+|\?)(?: (?P<pct>\d{1,3})%)?)?"
                  r"(?: (?P<stage>\S+))?$")


def progress_lines(text: str, name: str) -> list[re.Match[str]]:
    """Every ``progress`` line of ``text`` (each must parse) for command ``name``."""
    found = []
    for line in text.splitlines():
        if line.startswith("progress "):
            m = LINE.match(line)
            assert m is not None, f"unparseable progress line {line!r}"
            assert m["name"] == name
            found.append(m)
    assert found, f"no progress lines in {text!r}"
    return found


def assert_complete(lines: list[re.Match[str]], total: int) -> None:
    """Bytes only grow, and the last byte line says total/total 100%."""
    with_bytes = [m for m in lines if m["done"] is not None]
    done = [int(m["done"]) for m in with_bytes]
    assert done == sorted(done)
    last = with_bytes[-1]
    assert (int(last["done"]), int(last["total"]), last["pct"]) == (total, total, "100")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_come_at_most_once_a_second_with_every_stage_and_the_end() -> None:
    out, clock = io.StringIO(), FakeClock()
    with Progress("backup", stream=out, interactive=False, clock=clock) as progress:
        progress.update(stage="snapshot")
        progress.update(done=0, total=100 << 20, stage="upload")
        for step in range(1, 9):  # 8 updates in 2 s
            clock.now += 0.25
            progress.update(done=step << 20)
        progress.echo("a message of the command")
        clock.now += 0.25
        progress.update(done=50 << 20)
    assert out.getvalue().splitlines() == [
        "progress backup snapshot",
        "progress backup 0/104857600 0% upload",
        "progress backup 4194304/104857600 4% upload",  # 1 s later
        "progress backup 8388608/104857600 8% upload",  # 2 s later
        "a message of the command",
        "progress backup 52428800/104857600 50% upload",  # the last state, at the end
    ]


def test_json_mode_keeps_stdout_for_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("ingest", json_output=True, interactive=False) as progress:
        progress.update(done=5, total=10)
        progress.echo("ingested   x")
        progress.result({"ok": True, "imported": 1}, ["not printed"])
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"ok": True, "imported": 1}
    assert captured.err.splitlines() == ["progress ingest 5/10 50%"]


async def test_ingest_shows_bytes_of_every_file_and_json_lists_the_outcomes(
        settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    season = tmp_path / "drop" / "Goblin (2016)"
    first = make_clip(season / "Goblin.S01E01.mp4", tone=610)
    second = make_clip(season / "Goblin.S01E02.mp4", tone=620)
    total = first.stat().st_size + second.stat().st_size

    result = run_cli(settings, "ingest", "--copy", str(season))
    assert result.returncode == 0, result.stderr
    lines = progress_lines(result.stdout, "ingest")
    assert_complete(lines, total)
    assert {m["stage"] for m in lines} >= {"files:1/2", "files:2/2"}
    assert result.stdout.count("ingested   ") == 2

    third = make_clip(tmp_path / "Other (2020).mp4", tone=630)
    as_json = run_cli(settings, "ingest", "--copy", "--json", str(season), str(third))
    assert as_json.returncode == 0, as_json.stderr
    outcome = json.loads(as_json.stdout)  # stdout is the JSON alone
    assert outcome["ok"] is True and outcome["imported"] == 3
    statuses = {Path(f["path"]).name: f["status"] for f in outcome["files"]}
    assert statuses == {"Goblin.S01E01.mp4": "already_ingested", "Goblin.S01E02.mp4": "already_ingested",
                        "Other (2020).mp4": "ingested"}
    assert next(f for f in outcome["files"] if f["status"] == "ingested")["title"] == "Other"
    assert_complete(progress_lines(as_json.stderr, "ingest"), total + third.stat().st_size)


async def test_ingest_json_reports_failures_with_exit_status_one(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    notes = tmp_path / "notes.mkv"
    notes.write_text("not a video")
    result = run_cli(settings, "ingest", "--copy", "--json", str(notes))
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["ok"] is False and outcome["imported"] == 0
    assert [f["status"] for f in outcome["files"]] == ["failed"] and outcome["errors"]


def _backup_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KDRAMA_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "kdrama_tui", *args], env=env, text=True, capture_output=True,
                          timeout=120, cwd=REPO_ROOT)


async def test_backup_run_and_restore_show_progress_and_print_json(tmp_path: Path) -> None:
    settings = load_settings(env={"KDRAMA_DATA_DIR": str(tmp_path / "data")})
    db = await open_database(settings.database_url)
    try:
        await fill(db, users=3, videos=20)
    finally:
        await db.close()

    made = _backup_cli(settings, "backup", "run")
    assert made.returncode == 0, made.stderr
    lines = progress_lines(made.stdout, "backup")
    assert [m["stage"] for m in lines if m["done"] is None] == ["snapshot", "verify", "bundle"]
    bundled = [m for m in lines if m["stage"] == "bundle" and m["done"] is not None]
    assert bundled and bundled[-1]["pct"] == "100"

    as_json = _backup_cli(settings, "backup", "run", "--json")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["local"]["name"].startswith("kdrama-backup-") and result["cloud"] is None
    assert Path(result["path"]).is_file() and Path(result["path"]).stat().st_size == result["local"]["size"]
    progress_lines(as_json.stderr, "backup")

    restored = _backup_cli(settings, "backup", "restore", "--json", result["local"]["name"])
    assert restored.returncode == 0, restored.stderr
    outcome = json.loads(restored.stdout)
    assert outcome["restored"] == result["local"]["name"] and outcome["dialect"] == "sqlite"
    assert outcome["previous_copy"].startswith("kdrama-prerestore-")
    stages = [m["stage"] for m in progress_lines(restored.stderr, "restore") if m["done"] is None]
    # the backup is checked, the current database is kept as a pre-restore backup, then replaced
    assert stages == ["restore.fetch", "restore.verify", "snapshot", "verify", "bundle", "restore.replace"]

    plain = _backup_cli(settings, "backup", "restore", result["local"]["name"])
    assert plain.returncode == 0, plain.stderr
    assert "restored the sqlite database from" in plain.stdout
    progress_lines(plain.stdout, "restore")


async def test_storage_migrate_shows_bytes_and_prints_json(settings: Settings, s3_bucket: S3Bucket) -> None:
    settings.security.bcrypt_rounds = 4
    s3_bucket.configure(settings, provider="s3")
    svc = await build_services(settings)
    try:
        contents = await make_library(svc, svc.storage_for("local"), videos=2, segments=3, size=10_000)
    finally:
        await svc.close()
    total = sum(len(data) for data in contents.values())
    env = {**cli_env(settings), **s3_bucket.env("s3")}

    moved = subprocess.run([sys.executable, "-m", "kdrama_tui", "storage", "migrate", "--to", "s3"], env=env,
                           text=True, capture_output=True, timeout=120, cwd=REPO_ROOT)
    assert moved.returncode == 0, moved.stderr
    lines = progress_lines(moved.stdout, "storage")
    assert_complete(lines, total)
    assert lines[-1]["stage"] == f"files:{len(contents)}/{len(contents)}"

    back = subprocess.run([sys.executable, "-m", "kdrama_tui", "storage", "migrate", "--to", "local", "--json"],
                          env=env, text=True, capture_output=True, timeout=120, cwd=REPO_ROOT)
    assert back.returncode == 0, back.stderr
    report = json.loads(back.stdout)
    assert report["ok"] is True and report["target"] == "local"
    assert report["copied"] == len(contents) and report["bytes_copied"] == total == report["total_bytes"]
    assert_complete(progress_lines(back.stderr, "storage"), total)


def _run_in_pty(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with a terminal as stdin/stdout/stderr; its exit status and everything it drew."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(REPO_ROOT)
        os.execve(argv[0], argv, {**env, "COLUMNS": "120", "TERM": "xterm-256color"})  # noqa: S606
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


async def test_on_a_terminal_ingest_draws_a_bar(settings: Settings, tmp_path: Path) -> None:
    fast_settings(settings)
    clip = make_clip(tmp_path / "Bar Show.S01E01.mp4", tone=640)
    status, drawn = _run_in_pty([sys.executable, "-m", "kdrama_tui", "ingest", "--copy", str(clip)],
                                cli_env(settings))
    assert status == 0, drawn
    assert "━" in drawn  # rich's bar
    assert "\x1b[" in drawn  # drawn with terminal escapes
    assert "ingest" in drawn and "ingested   " in drawn
    assert "progress ingest" not in drawn  # no plain lines on a terminal
