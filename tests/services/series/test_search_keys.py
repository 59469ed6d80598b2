"""Search keys: the forms of a name people type fold to something found in the stored keys."""

from __future__ import annotations

import unicodedata

from kdrama_tui.services.series.search_keys import initials, name_keys, search_key, series_keys


def _finds(stored: str, query: str) -> bool:
    key = search_key(query)
    return bool(key) and any(key in line for line in stored.split("\n"))


def test_every_name_of_goblin_finds_it() -> None:
    stored = series_keys(["Goblin", "도깨비", "Guardian: The Lonely and Great God"])
    for query in ("도깨비", "Goblin", "GOBLIN", "Guardian: The Lonely and Great God", "guardian the lonely",
                  "Dokkaebi", "dokkae bi", "dokkae-bi", "ㄷㄲㅂ", "깨비", unicodedata.normalize("NFD", "도깨비"),
                  "\uff27\uff2f\uff22\uff2c\uff29\uff2e"):  # full-width GOBLIN
        assert _finds(stored, query), query
    for query in ("Crash Landing", "ㅅㄹ", "-", " "):
        assert not _finds(stored, query), query


def test_romanization_applies_sound_changes_and_initials_use_unicode_arithmetic() -> None:
    assert "saranguibulsichak" in name_keys("사랑의 불시착")
    assert _finds(series_keys(["사랑의 불시착"]), "Sarangui Bulsichak")
    assert initials("도깨비") == "ㄷㄲㅂ"
    assert initials("응답하라 1988") == "ㅇㄷㅎㄹ 1988"
    assert name_keys("Goblin") == ["goblin"]  # no Hangul: no romanization or initials to add
    # Decomposed initial consonants (conjoining jamo) are the keyboard's compatibility jamo too.
    assert search_key("\u1103\u1101\u1107") == "ㄷㄲㅂ"
