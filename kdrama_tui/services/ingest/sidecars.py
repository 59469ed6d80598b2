"""Files that travel with a video: ``Name.json`` (metadata) and subtitles (``Name.ko.srt``, ``Name.smi``).

A sidecar belongs to the video whose file name is its prefix followed only by tags: ``Name.ko.srt``,
``Name.kor.forced.srt`` and ``Name.en-US.vtt`` belong to ``Name.mkv``; ``Name.v2.srt`` does not (``v2`` is not
a tag; it belongs to ``Name.v2.mkv``). The first tag that names a language (``ko``, ``kor``, ``korean``,
``한국어``, ``en-US``) gives ``language``; the rest add to the label (``English (SDH)``). A subtitle without a
language tag (often ``.smi``, which may hold several languages) has ``language`` None and the media
pipeline decides. One subtitle per language is kept (text formats before ``.ass``/``.smi``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdrama_tui.errors import ValidationError
from kdrama_tui.services.library.handoff import SUBTITLE_EXTENSIONS, SubtitleSidecar
from kdrama_tui.services.library.metadata import clean_fields

log = logging.getLogger(__name__)

METADATA_EXTENSION = ".json"
MAX_METADATA_BYTES = 1 << 20
MAX_SUBTITLE_BYTES = 20 << 20
_PREFERENCE = {".vtt": 0, ".srt": 1, ".ass": 2, ".ssa": 3, ".smi": 4, ".sami": 5}
_TAG = re.compile(r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?|[A-Za-z가-힣]{2,20})$")
_FLAGS = {"forced": "forced", "sdh": "SDH", "cc": "CC", "default": None, "full": None}

_NAMES = {
    "ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese", "es": "Spanish", "fr": "French",
    "de": "German", "it": "Italian", "pt": "Portuguese", "ru": "Russian", "vi": "Vietnamese", "th": "Thai",
    "id": "Indonesian", "ms": "Malay", "tl": "Filipino", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish",
}
_ALIASES = {
    "kor": "ko", "kr": "ko", "korean": "ko", "한국어": "ko", "한글": "ko", "한국": "ko",
    "eng": "en", "english": "en", "영어": "en", "jpn": "ja", "jp": "ja", "japanese": "ja", "일본어": "ja",
    "chi": "zh", "zho": "zh", "chs": "zh", "cht": "zh", "chinese": "zh", "중국어": "zh",
    "spa": "es", "spanish": "es", "fre": "fr", "fra": "fr", "french": "fr", "ger": "de", "deu": "de",
    "german": "de", "ita": "it", "italian": "it", "por": "pt", "portuguese": "pt", "rus": "ru",
    "russian": "ru", "vie": "vi", "vietnamese": "vi", "tha": "th", "thai": "th", "ind": "id",
    "indonesian": "id", "may": "ms", "msa": "ms", "malay": "ms", "fil": "tl", "tgl": "tl", "filipino": "tl",
    "ara": "ar", "arabic": "ar", "hin": "hi", "hindi": "hi", "tur": "tr", "turkish": "tr",
}


@dataclass(frozen=True)
class Sidecars:
    subtitles: tuple[SubtitleSidecar, ...] = ()
    metadata: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.subtitles] + ([self.metadata] if self.metadata else [])


def is_sidecar_name(name: str) -> bool:
    """Subtitles and metadata are never imported on their own; they wait for their video."""
    suffix = Path(name).suffix.lower()
    return suffix in SUBTITLE_EXTENSIONS or suffix == METADATA_EXTENSION


def language_of(tags: list[str]) -> tuple[str | None, str | None]:
    """``["kor", "forced"]`` -> ``("ko", "Korean (forced)")``; no language tag -> ``(None, None)``."""
    language = label = None
    extras: list[str] = []
    for tag in tags:
        lowered = tag.lower()
        primary, _, region = lowered.replace("_", "-").partition("-")
        code = _ALIASES.get(lowered) or _ALIASES.get(primary) or (primary if primary in _NAMES else None)
        if language is None and code is not None:
            language = f"{code}-{region.upper()}" if region and len(region) == 2 else code
            label = _NAMES[code] + (f" ({region.upper()})" if region and len(region) == 2 else "")
        elif lowered in _FLAGS:
            if _FLAGS[lowered]:
                extras.append(_FLAGS[lowered])
        elif language is None and len(lowered) in (2, 3) and lowered.isascii():
            language, label = lowered, lowered.upper()  # a code we have no name for: keep it as given
    if label and extras:
        label = f"{label} ({', '.join(extras)})"
    return language, label


def _regular(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)


def sidecar_tags(stem: str, name: str) -> list[str] | None:
    """The tags of ``name`` when it is a sidecar of a video whose stem is ``stem``, else None.

    ``("Name", "Name.kor.forced.srt")`` -> ``["kor", "forced"]``; ``("Name", "Name.srt")`` -> ``[]``;
    ``("Name", "Name.v2.srt")`` -> None (``v2`` is not a tag). A metadata sidecar takes no tags. The one
    rule both for sidecars found beside their video and for subtitles arriving after it (ingest.py).
    """
    suffix = Path(name).suffix.lower()
    if (not is_sidecar_name(name) or len(name) < len(stem) + len(suffix) or name[len(stem)] != "."
            or name[:len(stem)].casefold() != stem.casefold()):
        return None
    middle = name[len(stem) + 1:len(name) - len(suffix)]
    if suffix == METADATA_EXTENSION:
        return None if middle else []
    tags = middle.split(".") if middle else []
    if len(tags) > 3 or not all(_TAG.match(t) for t in tags):
        return None  # e.g. Name.v2.srt: it belongs to Name.v2.mkv
    return tags


def find_sidecars(video: Path, names: list[str] | None = None) -> Sidecars:
    """The sidecars of ``video`` among the names in its folder (listed here unless given)."""
    if names is None:
        try:
            names = os.listdir(video.parent)
        except OSError:
            return Sidecars()
    stem = video.stem
    subtitles: dict[str | None, tuple[int, SubtitleSidecar]] = {}
    metadata: Path | None = None
    for name in sorted(names):
        if name == video.name or (tags := sidecar_tags(stem, name)) is None:
            continue
        path = video.parent / name
        if not _regular(path):
            log.warning("sidecar %s is not a regular file (symlink, FIFO or device): skipped", path)
            continue
        suffix = Path(name).suffix.lower()
        if suffix == METADATA_EXTENSION:
            metadata = path
            continue
        if path.lstat().st_size > MAX_SUBTITLE_BYTES:
            log.warning("subtitle %s is larger than %d bytes: skipped", path, MAX_SUBTITLE_BYTES)
            continue
        language, label = language_of(tags)
        rank = _PREFERENCE.get(suffix, 9)
        if language in subtitles and subtitles[language][0] <= rank:
            log.info("subtitle %s skipped: %s already gives language %s", path,
                     subtitles[language][1].path.name, language)
            continue
        subtitles[language] = (rank, SubtitleSidecar(path, language, label))
    ordered = sorted(subtitles.values(), key=lambda item: item[1].path.name)
    return Sidecars(tuple(s for _, s in ordered), metadata)


def load_metadata(path: Path) -> dict[str, Any]:
    """The metadata fields of a ``Name.json`` sidecar, validated like the API's; raises ValidationError.

    Besides the API's fields (title, description, year, genre, actors, is_public), ``season``,
    ``episode`` and ``episode_end`` (whole numbers), ``episode_title`` and ``air_date`` are returned for
    placing the episode in its series.
    """
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_METADATA_BYTES + 1)
    except OSError as exc:
        raise ValidationError(f"{path.name}: cannot read ({exc.strerror or exc})", code="invalid_sidecar") from exc
    if len(raw) > MAX_METADATA_BYTES:
        raise ValidationError(f"{path.name}: larger than 1 MiB", code="invalid_sidecar")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name}: not valid UTF-8 JSON ({exc})", code="invalid_sidecar") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name}: must hold a JSON object", code="invalid_sidecar")
    try:
        fields = clean_fields(data, partial=True)
    except ValidationError as exc:
        raise ValidationError(f"{path.name}: {exc.message}", code="invalid_sidecar") from exc
    for key in ("season", "episode", "episode_end"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise ValidationError(f"{path.name}: {key} must be a whole number", code="invalid_sidecar")
        fields[key] = value
    for key in ("episode_title", "air_date"):  # checked where the episode is placed (services/series)
        if data.get(key) is not None:
            fields[key] = data[key]
    return fields
