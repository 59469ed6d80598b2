"""Title, year, season and episode from a dropped file's name and the folders it sits in.

Handles the names people actually drop: ``Title (2024).mkv``, scene names
(``Title.S01E03.1080p.WEB-DL.mkv``, ``Title.2019.1080p.mkv``), anime style ``Title - 03.mp4``, Korean TV
rips (``사랑의.불시착.E05.191221.1080p-NEXT.mp4``, ``도깨비 3화.mp4``, ``도깨비 제3회.mkv``) and a folder per
show (``Goblin (2016)/Season 1/E01.mkv``, ``도깨비/시즌 2/01화.mkv``).

The title is everything before the first marker (season/episode, year, a quality tag); markers found
anywhere give the numbers. Folders fill in what the file name lacks: the title of ``E01.mkv`` or
``01화.mkv``, the year, the season (``Season 1``, ``S01``, ``시즌 2``). A file's own title wins over its
folder's, because folders are also used just to sort (``watch/alice/``, ``incoming/``); the show folder's
year applies only to files of that show. A bare year (``Title.2019.1080p``) is taken as the year, so
``Reply.1988.S01E01`` reads as "Reply" (1988); ``Reply 1988 (2015)`` is read correctly because a year in
brackets always wins over bare ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import PurePath

_B = r"(?<![A-Za-z0-9])"  # no letter or digit just before (Hangul may touch: "도깨비E01")
_E = r"(?![0-9])"

_SXXEYY = re.compile(_B + r"S(\d{1,2})[ ._-]?E(\d{1,4})" + _E, re.IGNORECASE)
_NXNN = re.compile(_B + r"(\d{1,2})x(\d{2,3})" + _E, re.IGNORECASE)
_EPISODE = re.compile(_B + r"(?:EP?|Episode)[ .]?(\d{1,4})" + _E, re.IGNORECASE)
_KOREAN_EPISODE = re.compile(r"(?:제\s?)?(?<![0-9])(\d{1,4})\s?[화회](?![가-힣])")
_DASH_EPISODE = re.compile(r"\s[-\u2013]\s*(\d{1,3})(?=$|[\s.\[(_-])")
_SEASON = re.compile(_B + r"(?:S|Season[ ._]?|시즌\s?)(\d{1,2})" + _E, re.IGNORECASE)
_BRACKET_YEAR = re.compile(r"[(\[]((?:19|20)\d\d)[)\]]")
_BARE_YEAR = re.compile(r"(?<![0-9])((?:19|20)\d\d)(?![0-9])")
_QUALITY = re.compile(
    _B + r"(?:2160p|1440p|1080[pi]|720p|576p|480p|360p|4k|uhd|web[ .-]?dl|webrip|hdtv|hdrip|blu[ .-]?ray|"
    r"bdrip|brrip|dvdrip|x264|x265|h[ .]?26[45]|hevc|10bit|remux)(?![A-Za-z0-9])", re.IGNORECASE)
_LEADING_TAGS = re.compile(r"^\s*(?:\[[^\]]*\]|【[^】]*】)\s*")
_SEASON_FOLDER = re.compile(r"^\s*(?:season|시즌)[ ._-]*(\d{1,2})\s*$|^\s*s(\d{1,2})\s*$", re.IGNORECASE)
_TRIM = " .-_\u2013~|,:;"


@dataclass(frozen=True)
class ParsedName:
    title: str  # the film's or the show's title
    year: int | None = None
    season: int | None = None
    episode: int | None = None

    @property
    def display_title(self) -> str:
        """The video's title: episodes get their number until the catalog knows about series."""
        if self.episode is None:
            return self.title
        if self.season is not None:
            return f"{self.title} S{self.season:02d}E{self.episode:02d}"
        return f"{self.title} E{self.episode:02d}"


def _clean_title(text: str) -> str:
    text = text.replace("_", " ")
    if " " not in text.strip():
        text = text.replace(".", " ")  # scene names use dots as spaces
    text = re.sub(r"[(\[【]\s*[)\]】]", " ", text)  # brackets a marker was cut out of
    text = re.sub(r"\s+", " ", text).strip(_TRIM + "([【")
    return text[:200].strip()


def parse_stem(stem: str) -> ParsedName:
    """Parse one name without extension (a file's stem or a folder's name)."""
    text = stem
    while (m := _LEADING_TAGS.match(text)) and m.end() < len(text):
        text = text[m.end():]  # "[tvN] Title" -> "Title"
    cuts: list[int] = []
    season = episode = year = None

    if (m := _SXXEYY.search(text)) or (m := _NXNN.search(text)):
        season, episode = int(m.group(1)), int(m.group(2))
        cuts.append(m.start())
    else:
        for pattern in (_EPISODE, _KOREAN_EPISODE, _DASH_EPISODE):
            if m := pattern.search(text):
                episode = int(m.group(1))
                cuts.append(m.start())
                break
        if m := _SEASON.search(text):
            season = int(m.group(1))
            cuts.append(m.start())

    if m := _BRACKET_YEAR.search(text):
        year = int(m.group(1))
        cuts.append(m.start())
    else:
        for m in _BARE_YEAR.finditer(text):
            if m.start() > 0 and text[m.start() - 1] in " ._-":
                year = int(m.group(1))
                cuts.append(m.start())
                break
    if m := _QUALITY.search(text):
        cuts.append(m.start())

    end = min(cuts) if cuts else len(text)
    return ParsedName(_clean_title(text[:end]), year, season, episode)


def parse_path(relative: PurePath) -> ParsedName:
    """Parse a file's path relative to its watch folder: the name, then its folders (innermost first)."""
    own = parse_stem(relative.stem)
    season_from_folder: int | None = None
    show: ParsedName | None = None
    for folder in reversed(relative.parts[:-1]):
        if m := _SEASON_FOLDER.match(folder):
            if season_from_folder is None:
                season_from_folder = int(m.group(1) or m.group(2))
            continue
        parsed = parse_stem(folder)
        if parsed.title:
            show = parsed
            break

    result = own
    if show is not None and not own.title:
        result = replace(result, title=show.title)
    # The show folder's year and season describe the file only when it is that show's file.
    same_show = show is not None and result.title.casefold() == show.title.casefold()
    if same_show and result.year is None:
        result = replace(result, year=show.year)  # type: ignore[union-attr]
    if result.season is None:
        result = replace(result, season=season_from_folder if season_from_folder is not None
                         else (show.season if same_show else None))  # type: ignore[union-attr]
    if not result.title:  # "E01.mkv" alone: "Untitled E01" reads better than "E01 E01"
        fallback = _clean_title(relative.stem) if result.episode is None else ""
        result = replace(result, title=fallback or "Untitled")
    return result
