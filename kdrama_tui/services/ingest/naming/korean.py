"""The Korean conventions guessit does not know: ``3화``, ``제3회``, ``시즌2``, ``5.5화``, and broadcast dates.

Korean TV rips (``사랑의.불시착.E05.191221.1080p-NEXT``) carry the air date as YYMMDD, which guessit reads as
YYDDMM or not at all, so the date is taken out here before anything else reads the name.

A name with a Korean episode or season marker is parsed here entirely, with the title taken as everything
before the first marker (episode, season, year, a quality tag); other names go to guessit.
"""

from __future__ import annotations

import re
from datetime import date

from kdrama_tui.services.ingest.naming.parsed import ParsedName, clean_title

_B = r"(?<![A-Za-z0-9])"  # no letter or digit just before (Hangul may touch: "도깨비E01")
_E = r"(?![0-9])"
_NOT_WORD = r"(?![가-힣])"  # "3회" but not "3회사"

_SPECIAL = re.compile(r"(?:제\s?)?(?<![0-9.])\d{1,4}\.5\s?[화회]" + _NOT_WORD)
_RANGE = re.compile(r"(?:제\s?)?(?<![0-9.])(\d{1,4})\s?[-~]\s?(\d{1,4})\s?[화회]" + _NOT_WORD)
_EPISODE = re.compile(r"(?:제\s?)?(?<![0-9.])(\d{1,4})\s?[화회]" + _NOT_WORD)
_SEASON = re.compile(r"시즌\s?(\d{1,2})" + _E)

_SXXEYY = re.compile(_B + r"S(\d{1,2})[ ._-]?E(\d{1,4})" + _E, re.IGNORECASE)
_LATIN_EPISODE = re.compile(_B + r"(?:EP?|Episode)[ .]?(\d{1,4})" + _E, re.IGNORECASE)
_DASH_EPISODE = re.compile(r"\s[-\u2013]\s*(\d{1,3})(?=$|[\s.\[(_-])")
_LATIN_SEASON = re.compile(_B + r"(?:S|Season[ ._]?)(\d{1,2})" + _E, re.IGNORECASE)
_BRACKET_YEAR = re.compile(r"[(\[]((?:19|20)\d\d)[)\]]")
_BARE_YEAR = re.compile(r"(?<![0-9])((?:19|20)\d\d)(?![0-9])")
_QUALITY = re.compile(
    _B + r"(?:2160p|1440p|1080[pi]|720p|576p|480p|360p|4k|uhd|web[ .-]?dl|webrip|hdtv|hdrip|blu[ .-]?ray|"
    r"bdrip|brrip|dvdrip|x264|x265|h[ .]?26[45]|hevc|10bit|remux)(?![A-Za-z0-9])", re.IGNORECASE)

# YYMMDD (the Korean broadcasters' and rip groups' form) or YYYYMMDD, standing alone between separators.
_AIR_DATE = re.compile(r"(?<=[ ._\-\[(])((?:19|20)?\d{2})(\d{2})(\d{2})(?=$|[ ._\-\])])")


def _as_date(year: str, month: str, day: str) -> date | None:
    y = int(year)
    if len(year) == 2:
        y += 2000 if y < 70 else 1900
    try:
        return date(y, int(month), int(day))
    except ValueError:
        return None


def take_air_date(text: str) -> tuple[str, date | None, int | None]:
    """``text`` without its broadcast date, the date, and where it stood (None when there is none)."""
    for m in _AIR_DATE.finditer(text):
        when = _as_date(m.group(1), m.group(2), m.group(3))
        if when is not None:
            return text[:m.start()] + text[m.end():], when, m.start()
    return text, None, None


def has_korean_marker(text: str) -> bool:
    return bool(_SPECIAL.search(text) or _EPISODE.search(text) or _SEASON.search(text))


def parse_korean(text: str, air_date: date | None = None, air_date_at: int | None = None) -> ParsedName:
    """Parse a name that has a Korean episode or season marker (``has_korean_marker``)."""
    cuts: list[int] = [] if air_date_at is None else [air_date_at]
    season = episode = episode_end = year = None
    special = False

    if m := _SPECIAL.search(text):  # "5.5화": a special between episodes 5 and 6, numbered by no one
        special, season = True, 0
        cuts.append(m.start())
    elif m := _RANGE.search(text):
        episode, episode_end = sorted((int(m.group(1)), int(m.group(2))))
        cuts.append(m.start())
    elif m := _EPISODE.search(text):
        episode = int(m.group(1))
        cuts.append(m.start())
    elif m := _SXXEYY.search(text):
        season, episode = int(m.group(1)), int(m.group(2))
        cuts.append(m.start())
    else:
        for pattern in (_LATIN_EPISODE, _DASH_EPISODE):
            if m := pattern.search(text):
                episode = int(m.group(1))
                cuts.append(m.start())
                break
    if not special and ((m := _SEASON.search(text)) or (m := _LATIN_SEASON.search(text))):
        if season is None:
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

    title = clean_title(text[:min(cuts)] if cuts else text)
    if episode_end == episode:
        episode_end = None
    return ParsedName(title, year if title else None, season, episode, episode_end, air_date,
                      special or season == 0)
