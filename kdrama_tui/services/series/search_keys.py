"""Search keys: how a series is found by any of its names, in the forms people type them.

A key is the text NFC-normalized (macOS file names carry Hangul decomposed; NFC composes it, and unlike
NFKC it leaves the compatibility jamo ``ㄷㄲㅂ`` that Korean keyboards type as they are), case-folded,
with full-width ASCII made plain and every space, hyphen and punctuation mark removed: "Guardian: The
Lonely and Great God", "guardian the lonely-and-great god" and the same with a full-width colon are one
key. A series stores, one per line, the key of its title, native title and each alternative title,
and for a name with Hangul also the key of its Revised Romanization (korean-romanizer, which applies the
sound-change rules: "사랑의 불시착" -> "sarangui bulsichak") and of its initial consonants (choseong,
"도깨비" -> "ㄷㄲㅂ", by Unicode arithmetic). A query is folded the same way and found as a substring of
any one line, so "dokkae bi", "Dokkaebi", "ㄷㄲㅂ" and "깨비" all find 도깨비.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from korean_romanizer.romanizer import Romanizer

_SYLLABLE_FIRST, _SYLLABLE_LAST = 0xAC00, 0xD7A3
_PER_INITIAL = 21 * 28  # vowels x finals for each initial consonant
# The 19 initial consonants as compatibility jamo (what a keyboard types), in Unicode's initial order.
CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_CONJOINING_INITIALS = {0x1100 + i: ch for i, ch in enumerate(CHOSEONG)}  # U+1100.. from decomposed input


def _is_syllable(ch: str) -> bool:
    return _SYLLABLE_FIRST <= ord(ch) <= _SYLLABLE_LAST


def has_hangul(text: str) -> bool:
    return any(_is_syllable(ch) for ch in unicodedata.normalize("NFC", text))


def search_key(text: str) -> str:
    """``text`` as search compares it (see module doc)."""
    out = []
    for ch in unicodedata.normalize("NFC", text).casefold():
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII (U+FF01..U+FF5E): question mark, letters
            ch = chr(code - 0xFEE0)
        ch = _CONJOINING_INITIALS.get(ord(ch), ch)
        if unicodedata.category(ch)[0] in "ZPC":  # separators, punctuation, control characters
            continue
        out.append(ch)
    return "".join(out)


def initials(text: str) -> str:
    """The initial consonant of each Hangul syllable; other letters and digits are kept as they are."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        out.append(CHOSEONG[(ord(ch) - _SYLLABLE_FIRST) // _PER_INITIAL] if _is_syllable(ch) else ch)
    return "".join(out)


def romanize(text: str) -> str:
    """Revised Romanization of the Hangul in ``text`` (other characters are kept)."""
    return Romanizer(unicodedata.normalize("NFC", text)).romanize()


def name_keys(name: str) -> list[str]:
    """Every key one name is found by."""
    keys = [search_key(name)]
    if has_hangul(name):
        keys += [search_key(romanize(name)), search_key(initials(name))]
    return [k for k in keys if k]


def series_keys(names: Iterable[str | None]) -> str:
    """The ``search_keys`` column: the distinct keys of all names, one per line."""
    seen: dict[str, None] = {}
    for name in names:
        if name:
            for key in name_keys(name):
                seen.setdefault(key, None)
    return "\n".join(seen)


def genre_keys(genres: Iterable[str]) -> str:
    """The ``genre_keys`` column: ``|romance|fantasy|`` (case-folded) for the genre filter."""
    folded = [unicodedata.normalize("NFC", g).casefold().strip() for g in genres if g and g.strip()]
    return "|" + "|".join(folded) + "|" if folded else ""


def sort_title(title: str) -> str:
    return unicodedata.normalize("NFC", title).casefold().strip()[:200]
