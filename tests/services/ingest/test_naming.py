"""Title, year, season, episode, range, air date and special from names people actually drop (table-driven)."""

import unicodedata
from datetime import date
from pathlib import PurePath

import pytest

from kdrama_tui.services.ingest.naming import ParsedName, parse_path, parse_stem

D = date
CASES = [
    # (path relative to the watch folder, title, year, season, episode, episode_end, air_date, special)
    # western scene and fansub names (guessit)
    ("Show.S01E03.mkv", "Show", None, 1, 3, None, None, False),
    ("Show S01E01-E02.mkv", "Show", None, 1, 1, 2, None, False),
    ("Show.S01E01E02.720p.mkv", "Show", None, 1, 1, 2, None, False),
    ("Show 1x03.avi", "Show", None, 1, 3, None, None, False),
    ("Show - 03.mp4", "Show", None, None, 3, None, None, False),
    ("Show EP03.mp4", "Show", None, None, 3, None, None, False),
    ("Show E03.mp4", "Show", None, None, 3, None, None, False),
    ("Show.S00E01.mkv", "Show", None, 0, 1, None, None, True),
    ("Title (2024).mkv", "Title", 2024, None, None, None, None, False),
    ("Title.S01E03.1080p.WEB-DL.mkv", "Title", None, 1, 3, None, None, False),
    ("Title - 03 - The Return.mkv", "Title", None, None, 3, None, None, False),
    ("Movie.2019.1080p.BluRay.x264.mkv", "Movie", 2019, None, None, None, None, False),
    ("Reply 1988 (2015).mkv", "Reply 1988", 2015, None, None, None, None, False),
    ("Mr. Sunshine - 05.mkv", "Mr. Sunshine", None, None, 5, None, None, False),
    ("Itaewon Class Season 1 - 07.mkv", "Itaewon Class", None, 1, 7, None, None, False),
    ("Sample Drama.S01E02.mp4", "Sample Drama", None, 1, 2, None, None, False),
    ("Crash_Landing_on_You_E16.mkv", "Crash Landing on You", None, None, 16, None, None, False),
    ("[SubsPlease] Show - 03 (1080p) [ABCD1234].mkv", "Show", None, None, 3, None, None, False),
    ("Show.S01E05.DDP5.1.H.264-NEXT.mkv", "Show", None, 1, 5, None, None, False),
    # air-dated Korean TV rips: YYMMDD after the episode
    ("Show.E03.161209.720p-NEXT.mp4", "Show", None, None, 3, None, D(2016, 12, 9), False),
    ("사랑의.불시착.E05.191221.1080p-NEXT.mp4", "사랑의 불시착", None, None, 5, None, D(2019, 12, 21), False),
    ("[tvN] 도깨비.E01.161202.720p-NEXT.mp4", "도깨비", None, None, 1, None, D(2016, 12, 2), False),
    ("Show.E03.20161209.720p.mp4", "Show", None, None, 3, None, D(2016, 12, 9), False),
    # Korean episode and season markers
    ("쇼 3화.mp4", "쇼", None, None, 3, None, None, False),
    ("쇼 제3화.mp4", "쇼", None, None, 3, None, None, False),
    ("쇼 3회.mp4", "쇼", None, None, 3, None, None, False),
    ("쇼 시즌2 5화.mp4", "쇼", None, 2, 5, None, None, False),
    ("쇼 5.5화.mp4", "쇼", None, 0, None, None, None, True),
    ("쇼 1-2화.mp4", "쇼", None, None, 1, 2, None, False),
    ("쇼.E04.170113.720p.3회차.mp4", "쇼", None, None, 4, None, D(2017, 1, 13), False),
    ("도깨비 3화.mp4", "도깨비", None, None, 3, None, None, False),
    ("도깨비 제3회.mkv", "도깨비", None, None, 3, None, None, False),
    ("사랑의 불시착 (2019).mkv", "사랑의 불시착", 2019, None, None, None, None, False),
    ("응답하라 1988 (2015).mkv", "응답하라 1988", 2015, None, None, None, None, False),
    ("슬기로운 의사생활 시즌2 - 05.mkv", "슬기로운 의사생활", None, 2, 5, None, None, False),
    # a folder per show fills in what the file name lacks
    ("Show (2016)/Season 1/E01.mkv", "Show", 2016, 1, 1, None, None, False),
    ("Goblin (2016)/Season 1/Goblin.E02.mkv", "Goblin", 2016, 1, 2, None, None, False),
    ("Show/시즌 2/03화.mkv", "Show", None, 2, 3, None, None, False),
    ("도깨비 (2016)/시즌 2/01화.mkv", "도깨비", 2016, 2, 1, None, None, False),
    ("Show/Specials/Show.E01.mkv", "Show", None, 0, 1, None, None, True),
    ("Show (2016)/Specials/Behind the Scenes.mkv", "Behind the Scenes", None, 0, None, None, None, True),
    ("Show/스페셜/1화.mkv", "Show", None, 0, 1, None, None, True),
    ("Goblin/Episode 3.mkv", "Goblin", None, None, 3, None, None, False),
    ("Hospital Playlist S2/E05.mkv", "Hospital Playlist", None, 2, 5, None, None, False),
    ("Crash Landing on You (2019)/Crash.Landing.on.You.S01E16.1080p.NF.WEB-DL.mkv",
     "Crash Landing on You", 2019, 1, 16, None, None, False),
    # ...but a file's own title wins over a folder used only to sort
    ("alice/Parasite (2019).mkv", "Parasite", 2019, None, None, None, None, False),
    ("incoming (2020)/Title.S01E02.mkv", "Title", None, 1, 2, None, None, False),
    ("E01.mkv", "Untitled", None, None, 1, None, None, False),
    ("2019.mkv", "2019", None, None, None, None, None, False),
    # release tags and numbers in titles are never episodes
    ("Reply 1988.mkv", "Reply", 1988, None, None, None, None, False),
    ("Reply 1988 - 03.mkv", "Reply", 1988, None, 3, None, None, False),
    ("Show.2019.1080p.x264.mkv", "Show", 2019, None, None, None, None, False),
    ("[NEXT] Show E03 720p.mkv", "Show", None, None, 3, None, None, False),
    ("Show.720p.H.264.mkv", "Show", None, None, None, None, None, False),
    ("Show 1080p x264 [NEXT].mkv", "Show", None, None, None, None, None, False),
]


@pytest.mark.parametrize(("path", "title", "year", "season", "episode", "end", "aired", "special"), CASES,
                         ids=[c[0] for c in CASES])
def test_parse_path(path: str, title: str, year: int | None, season: int | None, episode: int | None,
                    end: int | None, aired: date | None, special: bool) -> None:
    assert parse_path(PurePath(path)) == ParsedName(title, year, season, episode, end, aired, special)


@pytest.mark.parametrize("path", ["도깨비 3화.mp4", "사랑의 불시착/시즌 2/01화.mkv", "응답하라 1988 (2015).mkv",
                                  "도깨비/스페셜/1화.mkv"])
def test_decomposed_hangul_gives_the_same_title_as_composed(path: str) -> None:
    decomposed = unicodedata.normalize("NFD", path)
    assert decomposed != path
    parsed = parse_path(PurePath(decomposed))
    assert parsed == parse_path(PurePath(path))
    assert parsed.title == unicodedata.normalize("NFC", parsed.title)


def test_the_old_four_field_form_still_builds_and_compares() -> None:
    assert parse_stem("Sample Drama.S01E02") == ParsedName("Sample Drama", None, 1, 2)


@pytest.mark.parametrize(("parsed", "display"), [
    (ParsedName("Title", 2024), "Title"),
    (ParsedName("Sample Drama", None, 1, 2), "Sample Drama S01E02"),
    (ParsedName("도깨비", None, None, 3), "도깨비 E03"),
    (ParsedName("Show", None, 1, 1, episode_end=2), "Show S01E01-E02"),
    (ParsedName("쇼", None, 0, None, special=True), "쇼 Special"),
])
def test_display_title_keeps_the_episode_until_series_exist(parsed: ParsedName, display: str) -> None:
    assert parsed.display_title == display


def test_titles_are_cut_to_the_schema_limit() -> None:
    assert len(parse_path(PurePath("A" * 300 + ".mkv")).title) == 200
