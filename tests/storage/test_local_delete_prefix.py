"""Deleting a video whose folder is already gone (a failed transcode, a manual cleanup) is not an error."""

from __future__ import annotations

from pathlib import Path

from kdrama_tui.storage.local import LocalStorage


async def test_delete_prefix_of_a_missing_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert await storage.delete_prefix("videos/7/") == 0


async def test_delete_prefix_removes_the_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "videos" / "7" / "hls").mkdir(parents=True)
    (tmp_path / "videos" / "7" / "hls" / "master.m3u8").write_text("#EXTM3U\n")
    assert await storage.delete_prefix("videos/7/") == 1
    assert not (tmp_path / "videos" / "7").exists()
