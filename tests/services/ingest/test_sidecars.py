"""Which files travel with a video, and what they say."""

import json
import os
from pathlib import Path

import pytest

from kdrama_tui.errors import ValidationError
from kdrama_tui.services.ingest.sidecars import find_sidecars, language_of, load_metadata


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text("1\n00:00:00,000 --> 00:00:01,000\nx\n", encoding="utf-8")


def test_subtitles_with_language_tags_belong_to_their_video(tmp_path: Path) -> None:
    video = tmp_path / "Name.mkv"
    video.write_bytes(b"v")
    touch(tmp_path, "Name.ko.srt", "Name.en.vtt", "Name.smi", "Name.kor.srt", "Name.ja.forced.ass",
          "Other.en.srt", "Name.v2.srt", "Name.v2.mkv")
    found = find_sidecars(video)
    by_language = {s.language: (s.path.name, s.label) for s in found.subtitles}
    assert by_language == {
        "ko": ("Name.ko.srt", "Korean"),  # Name.kor.srt gives Korean too: one subtitle per language
        "en": ("Name.en.vtt", "English"),
        "ja": ("Name.ja.forced.ass", "Japanese (forced)"),
        None: ("Name.smi", None),  # SAMI may hold several languages: the media pipeline decides
    }
    assert found.metadata is None


def test_dotted_release_names_and_case(tmp_path: Path) -> None:
    video = tmp_path / "Title.S01E03.1080p.WEB-DL.mkv"
    video.write_bytes(b"v")
    touch(tmp_path, "Title.S01E03.1080p.WEB-DL.KO.SRT", "title.s01e03.1080p.web-dl.json")
    found = find_sidecars(video)
    assert [(s.path.name, s.language) for s in found.subtitles] == [("Title.S01E03.1080p.WEB-DL.KO.SRT", "ko")]
    assert found.metadata == tmp_path / "title.s01e03.1080p.web-dl.json"


def test_symlinked_and_special_sidecars_are_never_taken(tmp_path: Path) -> None:
    video = tmp_path / "Name.mkv"
    video.write_bytes(b"v")
    outside = tmp_path.parent / f"{tmp_path.name}-secret.srt"
    outside.write_text("secret")
    (tmp_path / "Name.ko.srt").symlink_to(outside)
    os.mkfifo(tmp_path / "Name.en.srt")
    assert find_sidecars(video).subtitles == ()


@pytest.mark.parametrize(("tags", "expected"), [
    (["ko"], ("ko", "Korean")),
    (["kor"], ("ko", "Korean")),
    (["한국어"], ("ko", "Korean")),
    (["english", "sdh"], ("en", "English (SDH)")),
    (["en-US"], ("en-US", "English (US)")),
    (["pt_BR"], ("pt-BR", "Portuguese (BR)")),
    (["xx"], ("xx", "XX")),
    ([], (None, None)),
    (["commentary"], (None, None)),
])
def test_language_tags(tags: list[str], expected: tuple[str | None, str | None]) -> None:
    assert language_of(tags) == expected


def test_metadata_sidecar_is_validated_like_the_api(tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"title": "진짜 제목", "description": "설명", "year": "2021", "genre": "Romance",
                                "actors": ["현빈", "손예진"], "is_public": False, "season": 1, "episode": 4,
                                "status": "ready", "owner_id": 1}), encoding="utf-8")
    assert load_metadata(good) == {"title": "진짜 제목", "description": "설명", "year": 2021, "genre": "Romance",
                                   "actors": ["현빈", "손예진"], "is_public": False, "season": 1, "episode": 4}
    for content, message in [("{not json", "not valid UTF-8 JSON"), ("[1, 2]", "JSON object"),
                             ('{"year": 1492}', "year must be"), ('{"episode": "two"}', "episode must be")]:
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(ValidationError, match=message):
            load_metadata(bad)
