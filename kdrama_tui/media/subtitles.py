"""Subtitles in, WebVTT out.

Sources: text subtitle streams inside the original (extracted by ffmpeg as SRT) and sidecar files (.srt, .vtt,
.ass/.ssa, .smi/.sami) in whatever encoding they were saved: UTF-8 with or without BOM, UTF-16, and the
CP949/EUC-KR that Korean releases use. SRT, WebVTT and ASS are parsed with pysubs2; SAMI is parsed here,
because Korean SAMI files often carry several languages in one file (``<P Class=KRCC>`` / ``<P Class=ENCC>``)
and each class becomes its own track.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field

import charset_normalizer
import pysubs2

from kdrama_tui.media.errors import SubtitleError

MAX_SUBTITLE_BYTES = 10 * 1024 * 1024
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")

# ISO 639-2 (as containers tag streams) -> the 639-1 code players show; plus display names.
_ISO639_2 = {
    "kor": "ko", "eng": "en", "jpn": "ja", "chi": "zh", "zho": "zh", "spa": "es", "fre": "fr", "fra": "fr",
    "ger": "de", "deu": "de", "vie": "vi", "tha": "th", "ind": "id", "may": "ms", "msa": "ms", "por": "pt",
    "rus": "ru", "ita": "it", "ara": "ar", "hin": "hi", "tgl": "tl", "fil": "fil", "tur": "tr", "pol": "pl",
    "dut": "nl", "nld": "nl", "swe": "sv", "nor": "no", "dan": "da", "fin": "fi", "heb": "he", "gre": "el",
    "ell": "el", "hun": "hu", "cze": "cs", "ces": "cs", "ukr": "uk", "rum": "ro", "ron": "ro", "mon": "mn",
}
LANGUAGE_NAMES = {
    "ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese", "es": "Spanish", "fr": "French",
    "de": "German", "vi": "Vietnamese", "th": "Thai", "id": "Indonesian", "ms": "Malay", "pt": "Portuguese",
    "ru": "Russian", "it": "Italian", "ar": "Arabic", "hi": "Hindi", "tl": "Tagalog", "fil": "Filipino",
    "tr": "Turkish", "pl": "Polish", "nl": "Dutch", "sv": "Swedish", "no": "Norwegian", "da": "Danish",
    "fi": "Finnish", "he": "Hebrew", "el": "Greek", "hu": "Hungarian", "cs": "Czech", "uk": "Ukrainian",
    "ro": "Romanian", "mn": "Mongolian", "und": "Unknown language",
}
# SAMI class names seen in Korean releases, when the STYLE block gives no lang.
_SAMI_CLASSES = {"KRCC": "ko", "KOCC": "ko", "KORCC": "ko", "ENCC": "en", "ENUSCC": "en", "EGCC": "en",
                 "JPCC": "ja", "JACC": "ja", "CNCC": "zh", "ZHCC": "zh", "CHCC": "zh"}
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}$")


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str


@dataclass
class Track:
    language: str | None
    label: str | None
    cues: list[Cue] = field(default_factory=list)


def normalize_language(code: str | None) -> str | None:
    """``kor`` -> ``ko``, ``ko_KR`` -> ``ko-KR``; None for anything that is not a language tag."""
    if not code:
        return None
    code = code.strip().replace("_", "-")
    if not _LANGUAGE_TAG.match(code):
        return None
    primary, _, rest = code.partition("-")
    primary = _ISO639_2.get(primary.lower(), primary.lower())
    if primary == "und":
        return None
    return f"{primary}-{rest.upper() if len(rest) == 2 else rest}" if rest else primary


def language_name(code: str | None) -> str:
    if not code:
        return "Subtitles"
    return LANGUAGE_NAMES.get(code.split("-")[0], code)


# ---- encodings -----------------------------------------------------------------------------------------------
def decode_text(data: bytes) -> str:
    """Decode subtitle bytes whatever their encoding; raise SubtitleError when they are not text."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return _decode(data, encoding)
    if len(data) >= 4 and data.count(b"\x00") > len(data) // 4:  # UTF-16 without BOM
        encoding = "utf-16-le" if data[1::2].count(0) > data[0::2].count(0) else "utf-16-be"
        return _decode(data, encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:  # Korean files: CP949 (a superset of EUC-KR) decoding strictly and yielding Hangul is conclusive
        text = data.decode("cp949")
        if _HANGUL.search(text):
            return text
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None or best.encoding is None:
        raise SubtitleError("the file is not text in any known encoding")
    return str(best)


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SubtitleError(f"the file is not valid {encoding} ({exc.reason})") from None


# ---- parsing -------------------------------------------------------------------------------------------------
def detect_format(text: str, extension: str = "") -> str:
    """``srt``, ``vtt``, ``ass``, ``ssa`` or ``sami``, from the content first (extensions lie)."""
    head = text.lstrip("\ufeff \t\r\n")[:2000].lower()
    if head.startswith("webvtt"):
        return "vtt"
    if "<sami" in head or "<sync" in head:
        return "sami"
    if head.startswith("[script info]") or "\n[events]" in head:
        return "ssa" if "scripttype: v4.00\n" in head.replace("\r", "") else "ass"
    if re.search(r"^\s*\d+\s*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->", head, re.MULTILINE):
        return "srt"
    ext = extension.lower().lstrip(".")
    return {"smi": "sami", "sami": "sami", "vtt": "vtt", "ass": "ass", "ssa": "ssa", "srt": "srt"}.get(ext, "srt")


def parse_subtitles(data: bytes, extension: str = "", language: str | None = None,
                    label: str | None = None) -> list[Track]:
    """Every track in a subtitle file, with cues; raise SubtitleError if it holds none."""
    if len(data) > MAX_SUBTITLE_BYTES:
        raise SubtitleError(f"the file is larger than {MAX_SUBTITLE_BYTES // (1024 * 1024)} MiB")
    if not data.strip():
        raise SubtitleError("the file is empty")
    text = decode_text(data).lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    kind = detect_format(text, extension)
    language = normalize_language(language)
    if kind == "sami":
        tracks = parse_sami(text)
        if len(tracks) == 1 and language:
            tracks[0].language = language
    else:
        try:
            subs = pysubs2.SSAFile.from_string(text, format_=kind)
        except Exception as exc:  # pysubs2 raises several types on malformed input
            raise SubtitleError(f"not a valid {kind.upper()} file ({exc})") from None
        cues = [Cue(int(e.start), int(e.end), _clean_lines(e.plaintext)) for e in subs.events
                if not e.is_comment and e.end > e.start and e.plaintext.strip()]
        tracks = [Track(language, None, cues)]
    tracks = [t for t in tracks if t.cues]
    if not tracks:
        raise SubtitleError(f"no subtitles found in the {kind.upper()} file")
    for track in tracks:
        track.label = (label if len(tracks) == 1 and label else None) or track.label or language_name(track.language)
        track.cues.sort(key=lambda c: (c.start_ms, c.end_ms))
    return tracks


_SAMI_STYLE = re.compile(r"\.([\w-]+)\s*\{([^}]*)\}")
_SAMI_SYNC = re.compile(r"<sync\b([^>]*)>", re.IGNORECASE)
_SAMI_START = re.compile(r"start\s*=\s*[\"']?(-?\d+)", re.IGNORECASE)
_SAMI_P = re.compile(r"<p\b([^>]*)>", re.IGNORECASE)
_SAMI_CLASS = re.compile(r"class\s*=\s*[\"']?([\w-]+)", re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
SAMI_LAST_CUE_MS = 5000


def parse_sami(text: str) -> list[Track]:
    """SAMI -> one track per class. Each ``<SYNC Start=ms>`` starts a cue for every class it names; a class's
    cue lasts until that class's next SYNC (``&nbsp;`` there only clears the screen). Tolerates the missing
    closing tags and unquoted attributes of real-world files."""
    styles: dict[str, dict[str, str]] = {}
    for name, body in _SAMI_STYLE.findall(text):
        props = {}
        for item in body.split(";"):
            key, _, value = item.partition(":")
            if key.strip():
                props[key.strip().lower()] = value.strip()
        styles[name.upper()] = props
    body_at = re.search(r"<body\b", text, re.IGNORECASE)
    body = text[body_at.start():] if body_at else text
    syncs = list(_SAMI_SYNC.finditer(body))
    if not syncs:
        raise SubtitleError("no <SYNC> elements in the SAMI file")
    events: dict[str, list[tuple[int, str]]] = {}
    for i, sync in enumerate(syncs):
        start = _SAMI_START.search(sync.group(1))
        if not start:
            continue
        end = syncs[i + 1].start() if i + 1 < len(syncs) else len(body)
        block = re.split(r"</body>", body[sync.end():end], flags=re.IGNORECASE)[0]
        paragraphs = list(_SAMI_P.finditer(block))
        if not paragraphs:
            events.setdefault("", []).append((int(start.group(1)), _sami_text(block)))
        for j, p in enumerate(paragraphs):
            cls = _SAMI_CLASS.search(p.group(1))
            p_end = paragraphs[j + 1].start() if j + 1 < len(paragraphs) else len(block)
            events.setdefault(cls.group(1).upper() if cls else "", []).append(
                (int(start.group(1)), _sami_text(block[p.end():p_end])))
    tracks = []
    for cls, items in events.items():
        items.sort(key=lambda item: item[0])
        cues = []
        for k, (start_ms, content) in enumerate(items):
            if not content:
                continue
            end_ms = items[k + 1][0] if k + 1 < len(items) else start_ms + SAMI_LAST_CUE_MS
            if end_ms > start_ms:
                cues.append(Cue(max(0, start_ms), end_ms, content))
        props = styles.get(cls, {})
        language = normalize_language(props.get("lang")) or _SAMI_CLASSES.get(cls)
        tracks.append(Track(language, props.get("name") or None, cues))
    return tracks


def _clean_lines(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _sami_text(fragment: str) -> str:
    fragment = _BREAK.sub("\n", fragment)
    fragment = re.sub(r"<!--.*?-->", "", fragment, flags=re.DOTALL)
    plain = html.unescape(_TAG.sub("", fragment)).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in plain.splitlines()]
    return "\n".join(line for line in lines if line)


# ---- WebVTT --------------------------------------------------------------------------------------------------
def _timestamp(ms: int) -> str:
    ms = max(0, int(ms))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _cue_text(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines = [line.strip() for line in escaped.replace("\r", "").split("\n")]
    return "\n".join(line for line in lines if line)  # a blank line would end the cue early


def render_webvtt(cues: list[Cue], *, mpegts_offset: int | None = None) -> str:
    """A WebVTT file; with MPEG-TS segments the X-TIMESTAMP-MAP ties cue times to the segments' PTS."""
    header = "WEBVTT"
    if mpegts_offset is not None:
        header += f"\nX-TIMESTAMP-MAP=MPEGTS:{mpegts_offset},LOCAL:00:00:00.000"
    blocks = [header]
    for cue in cues:
        text = _cue_text(cue.text)
        if text:
            blocks.append(f"{_timestamp(cue.start_ms)} --> {_timestamp(cue.end_ms)}\n{text}")
    return "\n\n".join(blocks) + "\n"


def track_file_stem(language: str | None, taken: set[str]) -> str:
    """A unique file name stem for a track: ``ko``, ``en``, ``en-2``, ``und``."""
    base = (language or "und").lower()
    stem, n = base, 2
    while stem in taken:
        stem, n = f"{base}-{n}", n + 1
    taken.add(stem)
    return stem
