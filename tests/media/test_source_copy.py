"""The source-copy path: which sources keep their own video, and that every rendition stays aligned to it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import m3u8
import pytest

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.media.binaries import find_binaries
from kdrama_tui.media.encoders import probe_encoders
from kdrama_tui.media.source_copy import parse_packets, scan_refusal
from kdrama_tui.media.transcoder import OutputFile
from tests.media.test_transcoder import assert_aligned, check_ladder, transcode
from tests.support.media import make_clip

# Two rungs a 320x180 clip fills: 180p is the source's own size (copied when it can be), 144p is encoded.
LADDER = [{"name": "144p", "height": 144, "video_bitrate": "150k", "audio_bitrate": "64k"},
          {"name": "180p", "height": 180, "video_bitrate": "300k", "audio_bitrate": "96k"}]
STEREO = ["-ac", "2"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("copy-clips")
    every_second = ["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"]
    out = {
        "regular": make_clip(d / "regular.mp4", seconds=4, extra_out=every_second + STEREO),
        # Keyframes at uneven instants, none more than 2 x segment_seconds apart.
        "irregular": make_clip(d / "irregular.mkv", seconds=4, extra_out=[
            "-g", "1000", "-sc_threshold", "0", "-force_key_frames", "0,0.64,1.92,2.44,3.52", *STEREO]),
        "longgop": make_clip(d / "longgop.mp4", seconds=4, extra_out=["-g", "100", "-sc_threshold", "0"]),
        "hevc": make_clip(d / "hevc.mkv", seconds=2, vcodec="libx265"),
        "h264_10bit": make_clip(d / "ten.mkv", seconds=2, pix_fmt="yuv420p10le", extra_out=every_second),
        "ac3": make_clip(d / "ac3.mkv", seconds=4, extra_out=[*every_second, "-c:a", "ac3", *STEREO]),
        "mp3": make_clip(d / "mp3.mkv", seconds=4, extra_out=[*every_second, "-c:a", "libmp3lame", *STEREO]),
        "mono_aac": make_clip(d / "mono.mp4", seconds=4, extra_out=every_second),
        "silent": make_clip(d / "silent.mp4", seconds=4, audio=False, extra_out=every_second),
        "vfr": d / "vfr.mkv",
        "rotated": d / "rotated.mp4",
    }
    # Variable frame rate: every seventh frame dropped, the others keep their times.
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "4",
                    "-vf", r"select='not(eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                    "ultrafast", *every_second, str(out["vfr"])], check=True, timeout=60)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["regular"]), "-c", "copy", "-metadata:s:v:0",
                    "rotate=90", str(out["rotated"])], check=True, timeout=60)
    return out


def video_packet_hashes(path: Path, stream: str = "v") -> list[str]:
    """MD5 of every video (or audio) packet as stored (``-c copy``), in order: equal lists mean bit-exact."""
    hls_options = ["-allowed_extensions", "ALL"] if path.suffix == ".m3u8" else []
    argv = ["ffmpeg", "-v", "error", *hls_options, "-i", str(path), "-map", f"0:{stream}:0", "-c", "copy", "-f",
            "framemd5", "-"]
    lines = subprocess.run(argv, capture_output=True, check=True, timeout=60, text=True).stdout.splitlines()
    return [line.rsplit(",", 1)[1].strip() for line in lines if line and not line.startswith("#")]


def segment_durations(hls: Path, name: str) -> list[float]:
    return [float(s.duration) for s in m3u8.loads((hls / name / "index.m3u8").read_text()).segments]


def av_offset(path: Path) -> float:
    """Start of the audio minus start of the video, as a player lines them up."""
    hls_options = ["-allowed_extensions", "ALL"] if path.suffix == ".m3u8" else []
    out = subprocess.run(["ffprobe", "-v", "error", *hls_options, "-show_entries", "stream=codec_type,start_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, check=True, timeout=60, text=True).stdout
    starts = {}
    for line in out.split():
        kind, start = line.split(",")[:2]
        starts.setdefault(kind, float(start))
    return starts["audio"] - starts["video"]


def audio_codec_of(playlist: Path) -> str | None:
    out = subprocess.run(["ffprobe", "-v", "error", "-allowed_extensions", "ALL", "-select_streams", "a",
                          "-show_entries", "stream=codec_name,channels", "-of", "csv=p=0", str(playlist)],
                         capture_output=True, check=True, timeout=60, text=True).stdout.split()
    return out[0] if out else None


@pytest.mark.parametrize("name,path,reason,audio", [
    ("regular", "copy", "AAC-LC stereo audio copied", "aac,2"),
    ("irregular", "copy", "keyframes at most 1.3 s apart", "aac,2"),
    ("ac3", "copy", "ac3 audio encoded once to AAC", "aac,2"),
    ("mp3", "copy", "mp3 audio encoded once to AAC", "aac,2"),
    ("mono_aac", "copy", "aac audio encoded once to AAC", "aac,2"),
    ("silent", "copy", "no audio", None),
    ("longgop", "full", "keyframes up to 4.0 s apart (long GOP", "aac,2"),
    ("hevc", "full", "the video is hevc, not H.264", "aac,2"),
    ("h264_10bit", "full", "pixel format yuv420p10le", "aac,2"),
    ("rotated", "full", "rotated 90 degrees by metadata", "aac,2"),
    ("vfr", "full", "variable frame rate", None),
])
async def test_path_chosen_and_renditions_aligned(sources: dict[str, Path], tmp_path: Path, name: str, path: str,
                                                  reason: str, audio: str | None) -> None:
    result, _ = await transcode(sources[name], tmp_path, ladder=LADDER)
    assert result.path == path and reason in result.path_reason, result.path_reason
    hls = tmp_path / "hls"
    master = check_ladder(hls, result, audio=audio is not None)
    assert sorted(result.renditions) == ["144p", "180p"]
    frame = 1 / master.playlists[0].stream_info.frame_rate
    assert_aligned([segment_durations(hls, r) for r in result.renditions], frame)
    for r in result.renditions:
        assert audio_codec_of(hls / r / "index.m3u8") == audio
        if audio is not None:  # in sync: the audio keeps its place beside the video, copied or encoded once
            assert av_offset(hls / r / "index.m3u8") == pytest.approx(av_offset(sources[name]), abs=0.03), r
    copied = video_packet_hashes(hls / "180p" / "index.m3u8") == video_packet_hashes(sources[name])
    assert copied == (path == "copy")
    if path == "copy" and audio is not None:  # one audio stream (copied, or encoded once) in every rendition
        top, low = (video_packet_hashes(hls / r / "index.m3u8", "a") for r in ("180p", "144p"))
        assert top == low and len(top) > 100


async def test_irregular_keyframes_become_the_segment_starts_of_every_rendition(sources: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    result, _ = await transcode(sources["irregular"], tmp_path, ladder=LADDER)
    hls = tmp_path / "hls"
    for r in result.renditions:
        durations = segment_durations(hls, r)
        starts = [round(sum(durations[:i]), 2) for i in range(len(durations))]
        # hls_time 1 s: a cut at the first keyframe after each second (0.64 is too early, 1.92 and 2.44 are not).
        assert starts == [0.0, 1.92, 2.44, 3.52], (r, starts)


async def test_copy_source_off_re_encodes_everything(sources: dict[str, Path], tmp_path: Path) -> None:
    result, _ = await transcode(sources["regular"], tmp_path, ladder=LADDER, copy_source=False)
    assert result.path == "full" and result.path_reason == "transcode.copy_source is off"
    assert video_packet_hashes(tmp_path / "hls" / "180p" / "index.m3u8") != video_packet_hashes(sources["regular"])


async def test_the_copied_rendition_is_handed_over_before_the_lower_ones_are_encoded(
        sources: dict[str, Path], tmp_path: Path) -> None:
    seen: list[tuple[list[str], list[str]]] = []
    states: list[dict] = []

    async def on_partial(files: list[OutputFile], duration: float) -> None:
        assert duration == pytest.approx(4, abs=0.1)
        hls = tmp_path / "hls"
        listed = [p.uri for p in m3u8.loads((hls / "master.m3u8").read_text()).playlists]
        seen.append((listed, sorted(p.name for p in hls.iterdir() if (p / "index.m3u8").exists())))
        assert {f.path for f in files} >= {"master.m3u8", "180p/index.m3u8", "180p/init.mp4"}
        assert all((hls / f.path).is_file() for f in files)

    result, _ = await transcode(sources["regular"], tmp_path, ladder=LADDER, on_partial=on_partial,
                                on_state=states.append)
    assert seen == [(["180p/index.m3u8"], ["180p"])]  # 144p was not even started
    assert states[0]["path"] == "copy" and states[-1]["renditions"] == [
        {"name": "144p", "width": 256, "height": 144, "source": "encoded", "progress": 100, "ready": True},
        {"name": "180p", "width": 320, "height": 180, "source": "copy", "progress": 100, "ready": True}]
    midway = [s for s in states if s["renditions"][1]["ready"] and not s["renditions"][0]["ready"]]
    assert midway, "the copied rendition is shown ready while the other encodes"
    assert len(m3u8.loads((tmp_path / "hls" / "master.m3u8").read_text()).playlists) == 2
    assert result.path == "copy"


def test_keyframe_scan_reasons() -> None:
    regular = parse_packets("\n".join(f"{i * 0.04:.3f},0.040000,{'K_' if i % 25 == 0 else '__'}"
                                      for i in range(100)))
    assert regular is not None and scan_refusal(regular, 1) is None and regular.longest_gap == pytest.approx(1.0)
    assert "long GOP" in (scan_refusal(regular, 0.4) or "")  # type: ignore[arg-type]
    late = parse_packets("0.000,0.04,__\n0.040,0.04,K_\n0.080,0.04,__\n")
    assert scan_refusal(late, 1) == "the first frame is not a keyframe"
    assert parse_packets("") is None and scan_refusal(None, 1) == "the keyframes could not be read"


async def test_without_a_working_hardware_encoder_libx264_is_used_and_each_failure_is_said() -> None:
    ffmpeg_bin = find_binaries(TranscodeSettings()).ffmpeg
    choice = await probe_encoders(ffmpeg_bin, "veryfast")
    assert choice.encoder.name == "libx264" and not choice.encoder.is_hardware
    for name in ("h264_vaapi", "h264_qsv", "h264_nvenc"):  # none works on this machine: each says why
        assert f"{name}: " in choice.reason
    assert (await probe_encoders(ffmpeg_bin, "veryfast", "none")).reason.endswith("hardware_encoder is none)")
    only = await probe_encoders(ffmpeg_bin, "veryfast", "h264_nvenc")
    assert only.encoder.name == "libx264" and "h264_vaapi" not in only.reason and "h264_nvenc" in only.reason
