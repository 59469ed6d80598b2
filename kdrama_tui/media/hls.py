"""Playlists we write ourselves: the master playlist and subtitle media playlists.

ffmpeg writes each rendition's media playlist; the master is ours so that every variant carries what
players and the HLS authoring spec ask for: BANDWIDTH (peak segment bit rate) and AVERAGE-BANDWIDTH measured
from the real segments, RESOLUTION, FRAME-RATE, CODECS read from the encoded stream's own SPS (``avc1.PPCCLL``)
and the SUBTITLES group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import m3u8

AAC_LC = "mp4a.40.2"
SUBTITLE_GROUP = "subs"


@dataclass(frozen=True)
class Variant:
    uri: str  # relative to the master: "720p/index.m3u8"
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float


@dataclass(frozen=True)
class SubtitleTrack:
    uri: str  # "subs/ko.m3u8"
    language: str
    name: str
    default: bool = False


# ---- codec strings -------------------------------------------------------------------------------------------
def _codec_from_sps(profile: int, constraints: int, level: int) -> str:
    return f"avc1.{profile:02x}{constraints:02x}{level:02x}"


def avc_codec_from_init(init_segment: bytes) -> str:
    """From an fMP4 init segment's ``avcC`` box: version, profile, compatibility flags, level."""
    at = init_segment.find(b"avcC")
    if at < 0 or len(init_segment) < at + 8:
        raise ValueError("no avcC box in the init segment")
    body = init_segment[at + 4:at + 8]
    return _codec_from_sps(body[1], body[2], body[3])


def avc_codec_from_ts(segment: bytes) -> str:
    """From the first H.264 SPS in an MPEG-TS segment (payloads are reassembled per PID first, so a start
    code split across 188-byte packets is still found)."""
    streams: dict[int, bytearray] = {}
    for offset in range(0, len(segment) - 187, 188):
        packet = segment[offset:offset + 188]
        if packet[0] != 0x47:
            continue
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        adaptation = (packet[3] >> 4) & 0x3
        start = 4
        if adaptation in (2, 3):
            start += 1 + packet[4]
        if adaptation in (1, 3) and start < 188:
            streams.setdefault(pid, bytearray()).extend(packet[start:])
    for data in streams.values():
        i = data.find(b"\x00\x00\x01")
        while 0 <= i < len(data) - 6:
            header = data[i + 3]
            if header & 0x80 == 0 and header & 0x1F == 7:  # forbidden bit clear, NAL type 7 = SPS
                return _codec_from_sps(data[i + 4], data[i + 5], data[i + 6])
            i = data.find(b"\x00\x00\x01", i + 3)
    raise ValueError("no H.264 SPS in the segment")


# ---- measuring renditions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenditionStats:
    segments: list[tuple[str, float]]  # (uri, duration)
    peak_bandwidth: int
    average_bandwidth: int
    init_uri: str | None


def measure_rendition(folder: Path) -> RenditionStats:
    """Bit rates of a finished rendition from its playlist and the sizes of its segments on disk."""
    playlist = m3u8.loads((folder / "index.m3u8").read_text(encoding="utf-8"))
    init_uri = playlist.segment_map[0].uri if playlist.segment_map else None
    segments = [(seg.uri, float(seg.duration)) for seg in playlist.segments]
    if not segments:
        raise ValueError(f"rendition {folder.name} has no segments")
    total_bits, total_time, peak = 0, 0.0, 0
    for uri, duration in segments:
        bits = (folder / uri).stat().st_size * 8
        total_bits += bits
        total_time += duration
        if duration > 0.5:  # a last sliver of a segment would report a meaningless peak
            peak = max(peak, math.ceil(bits / duration))
    average = math.ceil(total_bits / total_time) if total_time > 0 else 0
    return RenditionStats(segments, max(peak, average), average, init_uri)


# ---- writing playlists ---------------------------------------------------------------------------------------
def _quoted(value: str) -> str:
    """A quoted-string attribute value: no double quotes, no line breaks (RFC 8216 4.2)."""
    cleaned = "".join(ch for ch in value if ch.isprintable() and ch != '"').strip()
    return f'"{cleaned or "?"}"'


def render_master(variants: list[Variant], subtitles: list[SubtitleTrack]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for track in subtitles:
        lines.append(
            f"#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME={_quoted(track.name)},"
            f"LANGUAGE={_quoted(track.language)},DEFAULT={'YES' if track.default else 'NO'},"
            f"AUTOSELECT=YES,FORCED=NO,URI={_quoted(track.uri)}")
    for v in sorted(variants, key=lambda v: v.bandwidth):
        attributes = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}",
                      f"RESOLUTION={v.width}x{v.height}", f"CODECS={_quoted(v.codecs)}",
                      f"FRAME-RATE={v.frame_rate:.3f}"]
        if subtitles:
            attributes.append(f'SUBTITLES="{SUBTITLE_GROUP}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(v.uri)
    return "\n".join(lines) + "\n"


def parse_master_variants(text: str) -> list[Variant]:
    """The variants of a master we wrote, to re-render it with another subtitle track."""
    master = m3u8.loads(text)
    variants = []
    for playlist in master.playlists:
        info = playlist.stream_info
        width, height = info.resolution or (0, 0)
        variants.append(Variant(uri=playlist.uri, bandwidth=int(info.bandwidth),
                                average_bandwidth=int(info.average_bandwidth or info.bandwidth),
                                width=int(width), height=int(height), codecs=info.codecs or "",
                                frame_rate=float(info.frame_rate or 0)))
    return variants


def subtitle_media_playlist(vtt_name: str, duration: float) -> str:
    """A VOD media playlist holding one WebVTT file that covers the whole video."""
    target = max(1, math.ceil(duration))
    return "\n".join([
        "#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration:.3f},", vtt_name, "#EXT-X-ENDLIST", "",
    ])
