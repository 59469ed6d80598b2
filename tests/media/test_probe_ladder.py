"""Probing (with ffprobe and with ffmpeg alone) and ladder planning / argv building."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import pytest

from kdrama_tui.config import TranscodeSettings, load_settings
from kdrama_tui.errors import ConfigError
from kdrama_tui.media.binaries import Binaries, find_binaries
from kdrama_tui.media.errors import InputError
from kdrama_tui.media.ladder import build_ladder_argv, parse_bitrate, plan_ladder, plan_renditions
from kdrama_tui.media.probe import parse_ffmpeg_banner, parse_rate, probe

LADDER = TranscodeSettings().ladder
WITH_FFPROBE = Binaries(ffmpeg=shutil.which("ffmpeg") or "", ffprobe=shutil.which("ffprobe"))
FFMPEG_ONLY = Binaries(ffmpeg=shutil.which("ffmpeg") or "", ffprobe=None)
WHEEL_ONLY = Binaries(ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), ffprobe=None)
PROBERS = pytest.mark.parametrize("binaries", [WITH_FFPROBE, FFMPEG_ONLY, WHEEL_ONLY],
                                  ids=["ffprobe", "ffmpeg-i", "wheel-ffmpeg-i"])


def names(renditions) -> list[str]:
    return [r.name for r in renditions]


def test_ladder_never_upscales() -> None:
    assert names(plan_renditions(LADDER, 1280, 720)) == ["360p", "480p", "720p"]
    assert names(plan_renditions(LADDER, 1920, 1080)) == ["360p", "480p", "720p", "1080p"]
    assert names(plan_renditions(LADDER, 3840, 2160)) == ["360p", "480p", "720p", "1080p"]
    r = plan_renditions(LADDER, 854, 480)
    assert [(x.width, x.height) for x in r] == [(640, 360), (854, 480)]


def test_source_below_lowest_rung_gets_one_rendition_at_its_own_size() -> None:
    (only,) = plan_renditions(LADDER, 320, 180)
    assert (only.width, only.height, only.name) == (320, 180, "180p")
    (odd,) = plan_renditions(LADDER, 161, 91)
    assert odd.width % 2 == 0 and odd.height % 2 == 0


def test_odd_and_portrait_sizes_are_even_and_keep_the_shape() -> None:
    odd = plan_renditions(LADDER, 1278, 719)
    # 719 lines is a 720p source in all but name: the 720p rung is kept at the source's own (even) size.
    assert [(r.name, r.width, r.height) for r in odd] == [("360p", 640, 360), ("480p", 854, 480),
                                                         ("720p", 1278, 718)]
    portrait = plan_renditions(LADDER, 1080, 1920)
    assert [(r.width, r.height) for r in portrait] == [(360, 640), (480, 854), (720, 1280), (1080, 1920)]


def test_bitrates_parse() -> None:
    assert parse_bitrate("800k") == 800_000 and parse_bitrate("5M") == 5_000_000 and parse_bitrate(96000) == 96000
    with pytest.raises(ValueError):
        parse_bitrate("fast")


def test_bad_ladder_bitrate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"transcode.ladder\[0\].video_bitrate"):
        load_settings(env={"KDRAMA_TRANSCODE_LADDER": '[{"name":"a","height":360,"video_bitrate":"lots",'
                                                      '"audio_bitrate":"96k"}]'})


def test_binaries_fall_back_to_the_wheel_and_to_probing_without_ffprobe(tmp_path: Path) -> None:
    found = find_binaries(TranscodeSettings(), search_path=str(tmp_path))  # an empty PATH
    assert found.ffmpeg == imageio_ffmpeg.get_ffmpeg_exe()
    assert found.ffprobe is None
    with pytest.raises(ConfigError, match=r"transcode\.ffmpeg_path"):
        find_binaries(TranscodeSettings(ffmpeg_path=str(tmp_path / "nope")))


@PROBERS
async def test_probe_reads_streams_size_rotation_and_rate(binaries: Binaries, clips: dict[str, Path]) -> None:
    info = await probe(binaries, clips["basic"])
    assert info.format_name == "mov"
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert info.video.frame_rate == Fraction(25) and info.video.rotation == 0
    assert len(info.audio) == 1 and info.subtitles == []
    rotated = await probe(binaries, clips["rotated"])
    assert rotated.video is not None and rotated.video.rotation in (90, 270)
    assert rotated.video.display_size == (180, 320)
    silent = await probe(binaries, clips["silent"])
    assert silent.audio == []
    hevc = await probe(binaries, clips["hevc10"])
    assert hevc.video is not None and hevc.video.codec == "hevc" and "10" in hevc.video.pix_fmt
    subs = await probe(binaries, clips["withsubs"])
    assert subs.format_name == "matroska"
    assert [(s.codec, s.language, s.is_text) for s in subs.subtitles] == [("subrip", "eng", True)]


@PROBERS
@pytest.mark.parametrize("kind", ["text", "jpeg", "audio", "nomoov"])
async def test_probe_refuses_what_is_not_a_playable_video(binaries: Binaries, clips: dict[str, Path],
                                                          kind: str) -> None:
    with pytest.raises(InputError) as caught:
        await probe(binaries, clips[kind])
    message = str(caught.value)
    assert "the original" in message
    assert str(clips[kind]) not in message  # no server paths in what the admin and user see


async def test_probe_refuses_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        await probe(WITH_FFPROBE, empty)


def test_banner_parser_reads_both_ffmpeg_spellings_of_rotation() -> None:
    for side in ("displaymatrix: rotation of -90.00 degrees", "Display Matrix: rotation of -90.00 degrees"):
        text = ("Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:x':\n"
                "  Duration: 00:01:02.50, start: 0.000000, bitrate: 900 kb/s\n"
                "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), "
                "1920x1080 [SAR 1:1 DAR 16:9], 800 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)\n"
                "    Side data:\n"
                f"      {side}\n"
                "  Stream #0:1[0x2](kor): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s\n"
                "  Stream #0:2(kor): Subtitle: mov_text (tx3g / 0x67337874), 0 kb/s\n")
        info = parse_ffmpeg_banner(text)
        assert info.duration == pytest.approx(62.5)
        assert info.video is not None and info.video.rotation == 270 and info.video.display_size == (1080, 1920)
        assert info.video.frame_rate == Fraction(30000, 1001) and info.video.pix_fmt == "yuv420p"
        assert info.audio[0].channels == 2 and info.audio[0].sample_rate == 48000
        assert info.subtitles[0].language == "kor" and info.subtitles[0].is_text


def test_parse_rate() -> None:
    assert parse_rate("30000/1001") == Fraction(30000, 1001)
    assert parse_rate("23.98") == Fraction(24000, 1001)
    assert parse_rate("0/0") == 0 and parse_rate(None) == 0


async def test_argv_is_a_list_with_file_urls_and_the_file_protocol_only(clips: dict[str, Path]) -> None:
    info = await probe(WITH_FFPROBE, clips["basic"])
    plan = plan_ladder(info, LADDER, segment_seconds=2, segment_type="fmp4", preset="veryfast")
    hostile = Path("/tmp/-i $(touch pwned) ;rm -rf x.mp4")
    argv = build_ladder_argv("ffmpeg", hostile, info, plan, Path("/work/-out"))
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    assert f"file:{hostile}" in argv and str(hostile) not in argv  # never a bare path that could be an option
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert argv.index("-protocol_whitelist") < argv.index("-i")  # an input option
    assert argv[argv.index("-f") + 1] == "mov"  # the probed demuxer, not one chosen by extension
    assert all(a.startswith("file:") for a in argv if a.endswith((".m3u8", ".m4s")))
    filters = argv[argv.index("-filter_complex") + 1]
    assert filters.count("split=") == 1  # one decode feeds every rendition
    assert argv.count("-sc_threshold") == len(plan.renditions)
    assert "expr:gte(t,n_forced*2)" in argv
