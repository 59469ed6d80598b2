"""What a name says about a video, and the text clean-up every parser shares."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

TITLE_LIMIT = 200  # the videos.title column
_TRIM = " .-_\u2013~|,:;"


@dataclass(frozen=True)
class ParsedName:
    """A title, and the episode it names if any.

    ``season`` 0 holds the specials (a ``Specials/`` folder, ``S00E01``, ``5.5화``); ``special`` says so, and
    for a special without a number of its own (``5.5화``) ``episode`` is None. ``episode_end`` is set when one
    file holds two or more episodes (``S01E01-E02``: episode 1, episode_end 2).
    """

    title: str  # the film's or the show's title, NFC-normalized
    year: int | None = None
    season: int | None = None
    episode: int | None = None
    episode_end: int | None = None
    air_date: date | None = None
    special: bool = False

    @property
    def display_title(self) -> str:
        """The video's title: episodes get their number until the catalog knows about series."""
        if self.episode is None:
            return f"{self.title} Special" if self.special else self.title
        number = f"E{self.episode:02d}" + (f"-E{self.episode_end:02d}" if self.episode_end is not None else "")
        if self.season is not None:
            return f"{self.title} S{self.season:02d}{number}"
        return f"{self.title} {number}"


def nfc(text: str) -> str:
    """Composed Unicode: macOS writes Hangul names decomposed, and both must give the same show."""
    return unicodedata.normalize("NFC", text)


def clean_title(text: str) -> str:
    """A title as people write it: spaces for the dots and underscores of scene names, no stray marks."""
    text = nfc(text).replace("_", " ")
    if " " not in text.strip():
        text = text.replace(".", " ")  # scene names use dots as spaces
    text = re.sub(r"[(\[【]\s*[)\]】]", " ", text)  # brackets a marker was cut out of
    text = re.sub(r"\s+", " ", text).strip(_TRIM + "([【")
    return text[:TITLE_LIMIT].strip()
