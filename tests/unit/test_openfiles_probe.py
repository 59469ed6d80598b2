"""The two cheap checks before a dropped file is taken: nobody writes it any more, and it is a video."""

import subprocess
import sys
from pathlib import Path

import pytest

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.services.openfiles import open_writers
from kdrama_tui.services.probe import MediaTools, NotAVideo, find_tools, probe_video
from tests.support.ingest import make_clip

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


def tools_both() -> list[MediaTools]:
    found = find_tools(TranscodeSettings())
    assert found.ffprobe, "ffprobe must be installed for the tests"
    return [found, MediaTools(ffmpeg=found.ffmpeg, ffprobe=None)]


@pytest.mark.parametrize("tools", tools_both(), ids=["ffprobe", "ffmpeg-only"])
async def test_probe_accepts_videos_whatever_their_name(tmp_path: Path, tools: MediaTools) -> None:
    clip = make_clip(tmp_path / "clip.mp4", size="160x90")
    renamed = tmp_path / "-looks like an option $(x).txt"
    clip.rename(renamed)
    result = await probe_video(renamed, tools)
    assert (result.width, result.height, result.video_codec) == (160, 90, "h264")
    assert result.duration and result.duration > 0.5


@pytest.mark.parametrize("tools", tools_both(), ids=["ffprobe", "ffmpeg-only"])
async def test_probe_refuses_what_is_not_a_video(tmp_path: Path, tools: MediaTools) -> None:
    text = tmp_path / "notes.mkv"
    text.write_text("just some text, not a video\n")
    image = tmp_path / "poster.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1",
                    "-f", "image2", str(image)], check=True)
    audio = tmp_path / "song.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", str(audio)], check=True)
    playlist = tmp_path / "list.mkv"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{tmp_path / 'secret.ts'}\n")
    for path, reason in [(text, "no audio or video data"),
                         (image, "(image2|jpeg_pipe|png_pipe), not a video container"),
                         (audio, "no video stream"), (playlist, "hls, not a video container")]:
        with pytest.raises(NotAVideo, match=reason):
            await probe_video(path, tools)
