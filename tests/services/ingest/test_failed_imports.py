"""The failed/ folder as the admin sees it: list with reasons, retry back to the watch folder, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdrama_tui.errors import NotFound, ValidationError
from kdrama_tui.services.ingest.failed_imports import FailedImports
from kdrama_tui.services.ingest.importer import move_to_failed


def _refuse(watch: Path, relative: str, reason: str, *, sidecar: bool = False) -> None:
    path = watch / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a video at all")
    sidecars = []
    if sidecar:
        sub = path.with_name(path.stem + ".en.srt")
        sub.write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
        sidecars.append(sub)
    move_to_failed(path, watch, reason, sidecars)


def test_lists_retries_and_deletes(tmp_path: Path) -> None:
    _refuse(tmp_path, "Show/Ep 01.mkv", "no video stream in it", sidecar=True)
    _refuse(tmp_path, "top.mp4", "it is empty (0 bytes)")
    failed = FailedImports(tmp_path)
    items = {item.id: item for item in failed.list()}
    assert set(items) == {"Show/Ep 01.mkv", "top.mp4"}
    assert items["Show/Ep 01.mkv"].reason == "no video stream in it"
    assert items["Show/Ep 01.mkv"].sidecars == ("Ep 01.en.srt",)
    assert items["top.mp4"].size == len(b"not a video at all")

    back = failed.retry("Show/Ep 01.mkv")
    assert back == tmp_path / "Show" / "Ep 01.mkv" and back.is_file()
    assert (tmp_path / "Show" / "Ep 01.en.srt").is_file()
    assert not (tmp_path / "failed" / "Show" / "Ep 01.mkv.error.txt").exists()

    failed.delete("top.mp4")
    assert not list((tmp_path / "failed").glob("top*"))
    assert failed.list() == []


@pytest.mark.parametrize("bad", ["../secret.mkv", "/etc/passwd", "Show/../../x", "", "a//b"])
def test_refuses_paths_out_of_failed(tmp_path: Path, bad: str) -> None:
    (tmp_path / "secret.mkv").write_bytes(b"x")
    with pytest.raises(ValidationError):
        FailedImports(tmp_path).resolve(bad)


def test_refuses_symlink_out_of_failed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mkv"
    outside.write_bytes(b"x")
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "link.mkv").symlink_to(outside)
    (tmp_path / "failed" / "link.mkv.error.txt").write_text("h\nreason\n")
    failed = FailedImports(tmp_path)
    assert failed.list() == []
    with pytest.raises(ValidationError):
        failed.delete("link.mkv")
    assert outside.exists()
    with pytest.raises(NotFound):
        failed.resolve("missing.mkv")
