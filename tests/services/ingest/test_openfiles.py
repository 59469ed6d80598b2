"""A dropped file is taken only when no process has it open for writing any more."""

import subprocess
import sys
from pathlib import Path

import pytest

from kdrama_tui.services.ingest.openfiles import open_writers

HOLD = "import sys, time; f = open(sys.argv[1], sys.argv[2]); print('open', flush=True); time.sleep(60)"


def hold_open(path: Path, mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "open\n"
    return process


@pytest.mark.parametrize("mode", ["ab", "r+b"])
def test_a_process_writing_the_file_is_found(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "copying.mkv"
    target.write_bytes(b"x")
    writer = hold_open(target, mode)
    try:
        found = open_writers(target)
        assert [w.pid for w in found] == [writer.pid]
        assert "python" in str(found[0])
    finally:
        writer.kill()
        writer.wait()
    assert open_writers(target) == []


def test_readers_and_other_files_do_not_count(tmp_path: Path) -> None:
    target, other = tmp_path / "done.mkv", tmp_path / "other.mkv"
    target.write_bytes(b"x")
    other.write_bytes(b"y")
    reader, writer = hold_open(target, "rb"), hold_open(other, "ab")
    try:
        assert open_writers(target) == []
    finally:
        for process in (reader, writer):
            process.kill()
            process.wait()
