"""One name, or a file's path with its folders, to a ``ParsedName``.

A name is NFC-normalized, loses its leading group tags (``[tvN]``, ``[NEXT]``) and its broadcast date
(``.161209.``); then a name with a Korean marker (``3화``, ``제3회``, ``시즌2``, ``5.5화``) is read by the Korean
rules and any other by guessit.

Folders fill in what the file name lacks: the title of ``E01.mkv`` or ``01화.mkv``, the year, the season
(``Season 1``, ``S01``, ``시즌 2``; ``Specials``, ``스페셜`` are season 0). A file's own title wins over its
folder's, because folders are also used just to sort (``watch/alice/``, ``incoming/``); the show folder's
year applies only to files of that show. A bare year (``Title.2019.1080p``) is taken as the year, so
``Reply.1988.S01E01`` reads as "Reply" (1988); ``Reply 1988 (2015)`` is read correctly because a year in
brackets always wins over bare ones.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from pathlib import PurePath

from kdrama_tui.services.ingest.naming.korean import has_korean_marker, parse_korean, take_air_date
from kdrama_tui.services.ingest.naming.parsed import ParsedName, clean_title, nfc
from kdrama_tui.services.ingest.naming.western import parse_western

_LEADING_TAGS = re.compile(r"^\s*(?:\[[^\]]*\]|【[^】]*】)\s*")
_SEASON_FOLDER = re.compile(r"^\s*(?:season|시즌)[ ._-]*(\d{1,2})\s*$|^\s*s(\d{1,2})\s*$", re.IGNORECASE)
_SPECIALS_FOLDER = re.compile(r"^\s*(?:specials?|sp|스페셜|특별편|번외편?)\s*$", re.IGNORECASE)


@lru_cache(maxsize=4096)
def parse_stem(stem: str) -> ParsedName:
    """Parse one name without extension (a file's stem or a folder's name)."""
    text = nfc(stem)
    while (m := _LEADING_TAGS.match(text)) and m.end() < len(text):
        text = text[m.end():]  # "[tvN] Title" -> "Title"
    text, air_date, air_date_at = take_air_date(text)
    if has_korean_marker(text):
        return parse_korean(text, air_date, air_date_at)
    return parse_western(text, air_date)


def _folder_season(folder: str) -> int | None:
    folder = nfc(folder)
    if _SPECIALS_FOLDER.match(folder):
        return 0
    if m := _SEASON_FOLDER.match(folder):
        return int(m.group(1) or m.group(2))
    return None


def parse_path(relative: PurePath) -> ParsedName:
    """Parse a file's path relative to its watch folder: the name, then its folders (innermost first)."""
    own = parse_stem(relative.stem)
    season_from_folder: int | None = None
    show: ParsedName | None = None
    for folder in reversed(relative.parts[:-1]):
        if (season := _folder_season(folder)) is not None:
            if season_from_folder is None:
                season_from_folder = season
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
        season = season_from_folder if season_from_folder is not None else (show.season if same_show else None)  # type: ignore[union-attr]
        result = replace(result, season=season, special=result.special or season == 0)
    if not result.title:  # "E01.mkv" alone: "Untitled E01" reads better than "E01 E01"
        fallback = clean_title(relative.stem) if result.episode is None and not result.special else ""
        result = replace(result, title=fallback or "Untitled")
    return result
