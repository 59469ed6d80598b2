"""The local_server transcoder on awkward inputs: each must give a valid, aligned, playable ladder."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import m3u8
import pytest

from kdrama_tui.config import TranscodeSettings
from kdrama_tui.media.binaries import find_binaries
from kdrama_tui.media.errors import InputError
from kdrama_tui.media.transcoder import LocalServerTranscoder, SidecarInput, TranscodeRequest, TranscodeResult
from tests.media.test_subtitles import KOREAN_SRT, TWO_LANGUAGE_SMI

CODECS = re.compile(r"^avc1\.[0-9a-f]{6}(,mp4a\.40\.2)?$")


async def transcode(source: Path, work: Path, *, sidecars: list[SidecarInput] | None = None, on_partial=None,
                    on_state=None, **settings: object) -> tuple[TranscodeResult, list[float]]:
    options = TranscodeSettings(segment_seconds=1, nice=0, **settings)  # type: ignore[arg-type]
    transcoder = LocalServerTranscoder(find_binaries(options))
    seen: list[float] = []
    result = await transcoder.transcode(TranscodeRequest(job_id=1, video_id=1, source=source, sidecars=sidecars or [],
                                                         work_dir=work, settings=options, on_partial=on_partial,
                                                         on_state=on_state), seen.append)
    return result, seen


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-allowed_extensions", "ALL",
                          "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, check=True, timeout=60)
    return json.loads(out.stdout)


def assert_aligned(segment_lists: list[list[float]], frame: float) -> None:
    """Cumulative EXTINF of every rendition equal to the first's within one frame, segment by segment."""
    assert len({len(lst) for lst in segment_lists}) == 1, segment_lists
    for lst in segment_lists[1:]:
        ends, ref = 0.0, 0.0
        for mine, theirs in zip(lst, segment_lists[0], strict=True):
            ends, ref = ends + mine, ref + theirs
            assert abs(ends - ref) <= frame * 1.01, segment_lists


def check_ladder(hls: Path, result: TranscodeResult, *, audio: bool = True) -> m3u8.M3U8:
    """Everything a player needs: master with full attributes, aligned variants, files present."""
    master = m3u8.loads((hls / "master.m3u8").read_text())
    assert master.is_variant and len(master.playlists) == len(result.renditions)
    segment_lists = []
    for variant in master.playlists:
        info = variant.stream_info
        assert info.bandwidth >= (info.average_bandwidth or 0) > 0
        assert CODECS.match(info.codecs) and (",mp4a.40.2" in info.codecs) == audio
        assert info.frame_rate and info.frame_rate > 0
        media = m3u8.loads((hls / variant.uri).read_text())
        assert media.is_endlist and media.segments
        for segment in media.segments:
            assert (hls / variant.uri).parent.joinpath(segment.uri).stat().st_size > 0
        segment_lists.append([float(s.duration) for s in media.segments])
        # The real stream matches what the master says about it.
        probed = ffprobe(hls / variant.uri)
        video = next(s for s in probed["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == tuple(info.resolution)
        assert video["pix_fmt"] == "yuv420p" and video["codec_name"] == "h264"
        profile_idc = int(info.codecs[5:7], 16)
        level_idc = int(info.codecs[9:11], 16)
        assert {"High": 100, "Main": 77, "Constrained Baseline": 66}[video["profile"]] == profile_idc
        assert video["level"] == level_idc
        assert not any("rotation" in side for side in video.get("side_data_list", []))
        assert any(s["codec_type"] == "audio" for s in probed["streams"]) == audio
    # Keyframes aligned: every rendition cuts its segments at the same instants (within one frame).
    frame = 1 / master.playlists[0].stream_info.frame_rate
    assert_aligned(segment_lists, frame)
    if result.path == "full":  # a copied source keeps its own keyframes: a short clip may be one segment
        assert len(segment_lists[0]) >= 2
    for f in result.files:
        assert (hls / f.path).is_file(), f.path
    assert {f.file_type for f in result.files} >= {"master_playlist", "thumbnail", "sprite", "sprite_vtt"}
    return master


async def test_fmp4_ladder_with_korean_and_english_sidecars(clips: dict[str, Path], tmp_path: Path) -> None:
    srt = tmp_path / "ko.srt"
    srt.write_bytes(KOREAN_SRT.encode("cp949"))
    smi = tmp_path / "two.smi"
    smi.write_bytes(TWO_LANGUAGE_SMI.encode("cp949"))
    broken = tmp_path / "broken.srt"
    broken.write_bytes(b"\x00\xff" * 100)
    sidecars = [SidecarInput(srt, "ko", "한국어 (자막)", "subtitle 00.srt"),
                SidecarInput(smi, None, None, "subtitle 01.smi"),
                SidecarInput(broken, "en", None, "subtitle 02.srt")]
    result, progress = await transcode(clips["basic"], tmp_path / "w", sidecars=sidecars)
    hls = tmp_path / "w" / "hls"
    master = check_ladder(hls, result)
    assert result.input_format == "mov" and result.duration == pytest.approx(3, abs=0.1)
    assert progress == sorted(progress) and 0 < progress[-1] <= 1
    media = {(m.language, m.name): m for m in master.media}
    assert set(media) == {("ko", "한국어 (자막)"), ("ko-KR", "한국어"), ("en-US", "English")}
    assert all(m.type == "SUBTITLES" and m.group_id == "subs" for m in master.media)
    assert all(p.stream_info.subtitles == "subs" for p in master.playlists)
    ko = (hls / media[("ko", "한국어 (자막)")].uri).parent / "ko.vtt"
    assert "안녕하세요, 오랜만이에요." in ko.read_text(encoding="utf-8")
    sub_playlist = m3u8.loads((hls / media[("en-US", "English")].uri).read_text())
    assert sub_playlist.is_endlist and sub_playlist.segments[0].uri.endswith(".vtt")
    # The broken file is skipped with a warning; the video is not failed for it.
    assert len(result.warnings) == 1 and "02.srt" in result.warnings[0]
    sprite_vtt = (hls / "thumbs" / "thumbs.vtt").read_text()
    assert sprite_vtt.startswith("WEBVTT") and "sprite.jpg#xywh=0,0,160,90" in sprite_vtt
    assert (hls / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("name,sizes,audio", [
    ("odd", [(640, 360), (854, 480), (1278, 718)], True),
    ("portrait", [(180, 320)], True),
    ("rotated", [(180, 320)], True),
    ("silent", [(320, 180)], False),
    ("hevc10", [(320, 180)], True),
    ("vfr", [(320, 180)], False),
    ("tiny", [(160, 90)], True),
])
async def test_awkward_inputs_give_valid_ladders(clips: dict[str, Path], tmp_path: Path, name: str,
                                                 sizes: list[tuple[int, int]], audio: bool) -> None:
    result, _ = await transcode(clips[name], tmp_path)
    master = check_ladder(tmp_path / "hls", result, audio=audio)
    assert sorted(tuple(p.stream_info.resolution) for p in master.playlists) == sorted(sizes)


async def test_mpegts_segments_with_embedded_subtitles_carry_a_timestamp_map(clips: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    result, _ = await transcode(clips["withsubs"], tmp_path, segment_type="mpegts")
    hls = tmp_path / "hls"
    master = check_ladder(hls, result)
    assert all(f.path.endswith((".ts", ".m3u8")) for f in result.files if f.file_type.startswith("transcoded_"))
    (track,) = master.media
    assert (track.language, track.name) == ("en", "English")
    vtt = (hls / "subs" / "en.vtt").read_text()
    offset = re.search(r"X-TIMESTAMP-MAP=MPEGTS:(\d+),LOCAL:00:00:00.000", vtt)
    assert offset is not None
    first_segment = hls / result.renditions[0] / "seg_00001.ts"
    start = float(ffprobe(first_segment)["format"]["start_time"])
    assert int(offset.group(1)) == round(start * 90000)
    cue = re.search(r"00:00:00\.(\d{3}) --> 00:00:01\.(\d{3})\nEmbedded line &amp; bye\n", vtt)
    assert cue is not None, vtt  # timed as in the source (the container's start offset is a few ms)
    assert abs(int(cue.group(1)) - 200) < 50 and abs(int(cue.group(2)) - 500) < 50


async def test_a_truncated_original_fails_as_bad_input(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="truncated"):
        await transcode(clips["truncated"], tmp_path)
