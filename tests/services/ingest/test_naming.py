"""Title, year, season and episode from names people actually drop (table-driven)."""

from pathlib import PurePath

import pytest

from kdrama_tui.services.ingest.naming import ParsedName, parse_path

CASES = [
    # (path relative to the watch folder, title, year, season, episode)
    ("Title (2024).mkv", "Title", 2024, None, None),
    ("Title.S01E03.1080p.WEB-DL.mkv", "Title", None, 1, 3),
    ("Title - 03.mp4", "Title", None, None, 3),
    ("Title - 03 - The Return.mkv", "Title", None, None, 3),
    ("Title 1x05.avi", "Title", None, 1, 5),
    ("Movie.2019.1080p.BluRay.x264.mkv", "Movie", 2019, None, None),
    ("Reply 1988 (2015).mkv", "Reply 1988", 2015, None, None),
    ("Mr. Sunshine - 05.mkv", "Mr. Sunshine", None, None, 5),
    ("Itaewon Class Season 1 - 07.mkv", "Itaewon Class", None, 1, 7),
    ("Sample Drama.S01E02.mp4", "Sample Drama", None, 1, 2),
    ("Crash_Landing_on_You_E16.mkv", "Crash Landing on You", None, None, 16),
    # Korean titles and Korean episode markers
    ("사랑의 불시착 (2019).mkv", "사랑의 불시착", 2019, None, None),
    ("사랑의.불시착.E05.191221.1080p-NEXT.mp4", "사랑의 불시착", None, None, 5),
    ("[tvN] 도깨비.E01.161202.720p-NEXT.mp4", "도깨비", None, None, 1),
    ("도깨비 3화.mp4", "도깨비", None, None, 3),
    ("도깨비 제3회.mkv", "도깨비", None, None, 3),
    ("응답하라 1988 (2015).mkv", "응답하라 1988", 2015, None, None),
    ("슬기로운 의사생활 시즌2 - 05.mkv", "슬기로운 의사생활", None, 2, 5),
    # a folder per show fills in what the file name lacks
    ("Goblin (2016)/Season 1/E01.mkv", "Goblin", 2016, 1, 1),
    ("도깨비 (2016)/시즌 2/01화.mkv", "도깨비", 2016, 2, 1),
    ("Goblin/Episode 3.mkv", "Goblin", None, None, 3),
    ("Hospital Playlist S2/E05.mkv", "Hospital Playlist", None, 2, 5),
    ("Crash Landing on You (2019)/Crash.Landing.on.You.S01E16.1080p.NF.WEB-DL.mkv",
     "Crash Landing on You", 2019, 1, 16),
    # ...but a file's own title wins over a folder used only to sort
    ("alice/Parasite (2019).mkv", "Parasite", 2019, None, None),
    ("incoming (2020)/Title.S01E02.mkv", "Title", None, 1, 2),
    ("E01.mkv", "Untitled", None, None, 1),
    ("2019.mkv", "2019", None, None, None),
]


@pytest.mark.parametrize(("path", "title", "year", "season", "episode"), CASES,
                         ids=[c[0] for c in CASES])
def test_parse_path(path: str, title: str, year: int | None, season: int | None, episode: int | None) -> None:
    assert parse_path(PurePath(path)) == ParsedName(title, year, season, episode)


@pytest.mark.parametrize(("parsed", "display"), [
    (ParsedName("Title", 2024), "Title"),
    (ParsedName("Sample Drama", None, 1, 2), "Sample Drama S01E02"),
    (ParsedName("도깨비", None, None, 3), "도깨비 E03"),
])
def test_display_title_keeps_the_episode_until_series_exist(parsed: ParsedName, display: str) -> None:
    assert parsed.display_title == display


def test_titles_are_cut_to_the_schema_limit() -> None:
    assert len(parse_path(PurePath("A" * 300 + ".mkv")).title) == 200
