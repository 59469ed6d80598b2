"""Subtitle decoding, parsing (SRT, WebVTT, ASS, two-language SAMI) and WebVTT output."""

from __future__ import annotations

import codecs

import pytest

from kdrama_tui.media.errors import SubtitleError
from kdrama_tui.media.subtitles import (
    decode_text,
    normalize_language,
    parse_subtitles,
    render_webvtt,
    track_file_stem,
)

KOREAN_SRT = ("1\r\n00:00:01,000 --> 00:00:02,500\r\n안녕하세요, 오랜만이에요.\r\n\r\n"
              "2\r\n00:00:03,000 --> 00:00:04,000\r\n<i>사랑해요</i>\r\n두 번째 줄\r\n\r\n")

TWO_LANGUAGE_SMI = """<SAMI>
<HEAD>
<TITLE>드라마</TITLE>
<STYLE TYPE="text/css">
<!--
P { margin-left:8pt; font-size:20pt; text-align:center; }
.KRCC { Name:한국어; lang:ko-KR; SAMIType:CC; }
.ENCC { Name:English; lang:en-US; SAMIType:CC; }
-->
</STYLE>
</HEAD>
<BODY>
<SYNC Start=1000><P Class=KRCC>안녕하세요
<SYNC Start=1000><P Class=ENCC>Hello &amp; welcome
<SYNC Start=2500><P Class=KRCC>&nbsp;
<SYNC Start=2500><P Class=ENCC>&nbsp;
<SYNC Start=3000><P Class=KRCC>두 번째<br>줄<P Class=ENCC>Second<br>line
<SYNC Start=4200><P Class=KRCC>&nbsp;<P Class=ENCC>&nbsp;
</BODY>
</SAMI>
"""


def test_cp949_korean_srt() -> None:
    data = KOREAN_SRT.encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the point of the test: this is not UTF-8
    (track,) = parse_subtitles(data, ".srt", "ko")
    assert track.language == "ko" and track.label == "Korean"
    assert [(c.start_ms, c.end_ms) for c in track.cues] == [(1000, 2500), (3000, 4000)]
    assert track.cues[0].text == "안녕하세요, 오랜만이에요."
    assert track.cues[1].text == "사랑해요\n두 번째 줄"  # markup stripped, line break kept


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "euc-kr"])
def test_encodings_are_detected(encoding: str) -> None:
    assert decode_text(KOREAN_SRT.encode(encoding)) == KOREAN_SRT


def test_bom_is_not_part_of_the_text() -> None:
    text = decode_text(codecs.BOM_UTF8 + b"WEBVTT\n")
    assert text == "WEBVTT\n"


def test_two_language_sami_becomes_two_tracks() -> None:
    tracks = parse_subtitles(TWO_LANGUAGE_SMI.encode("cp949"), ".smi")
    by_language = {t.language: t for t in tracks}
    assert set(by_language) == {"ko-KR", "en-US"}
    ko, en = by_language["ko-KR"], by_language["en-US"]
    assert ko.label == "한국어" and en.label == "English"
    assert [(c.start_ms, c.end_ms, c.text) for c in ko.cues] == [(1000, 2500, "안녕하세요"),
                                                                (3000, 4200, "두 번째\n줄")]
    assert [(c.start_ms, c.end_ms, c.text) for c in en.cues] == [(1000, 2500, "Hello & welcome"),
                                                                (3000, 4200, "Second\nline")]


def test_sami_without_styles_uses_the_class_names() -> None:
    smi = "<SAMI><BODY><SYNC Start=500><P Class=KRCC>하나<SYNC Start=1500><P Class=KRCC>&nbsp;</BODY></SAMI>"
    (track,) = parse_subtitles(smi.encode("utf-8"), ".smi")
    assert track.language == "ko" and [(c.start_ms, c.end_ms) for c in track.cues] == [(500, 1500)]


def test_ass_and_vtt_are_read() -> None:
    ass = ("[Script Info]\nScriptType: v4.00+\n\n"
           "[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n"
           "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
           "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\\i1}Hi{\\i0}\\Nthere\n")
    (track,) = parse_subtitles(ass.encode(), ".ass", "en", "English (SDH)")
    assert track.label == "English (SDH)" and track.cues[0].text == "Hi\nthere"
    vtt = "WEBVTT\n\n00:00.500 --> 00:01.000\nshort form\n"
    (track,) = parse_subtitles(vtt.encode(), "")
    assert track.cues[0].start_ms == 500 and track.language is None and track.label == "Subtitles"


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02\xff" * 300, b"just some words, no timing at all\n",
                                  b"<SAMI><BODY>no sync here</BODY></SAMI>"])
def test_broken_files_raise_subtitle_error(data: bytes) -> None:
    with pytest.raises(SubtitleError):
        parse_subtitles(data, ".srt")


def test_webvtt_escapes_text_and_maps_mpegts_time() -> None:
    (track,) = parse_subtitles(b"1\n00:00:01,000 --> 00:00:02,000\n<b>a</b> & b --> c\n\n", ".srt")
    vtt = render_webvtt(track.cues, mpegts_offset=126000)
    assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n")
    assert "00:00:01.000 --> 00:00:02.000\na &amp; b --&gt; c\n" in vtt
    assert "X-TIMESTAMP-MAP" not in render_webvtt(track.cues)


def test_language_codes() -> None:
    assert normalize_language("kor") == "ko" and normalize_language("ko_kr") == "ko-KR"
    assert normalize_language("und") is None and normalize_language("../../x") is None
    taken: set[str] = set()
    assert [track_file_stem(x, taken) for x in ("en", "en", None, "ko-KR")] == ["en", "en-2", "und", "ko-kr"]
