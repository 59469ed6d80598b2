"""The admin client's result types read a newer or older server's JSON without breaking."""

from __future__ import annotations

import dataclasses

import pytest

from kdrama_tui.tui.results import ApiKey, Comment, Upload, User, VideoDetail, VideoPage


def test_unknown_fields_are_ignored() -> None:
    comment = Comment.from_json({"id": 7, "content": "great", "is_approved": True, "video_title": "Ep 1",
                                 "added_by_a_newer_server": {"x": 1}})
    assert comment == Comment(id=7, content="great", is_approved=True, video_title="Ep 1")
    assert not hasattr(comment, "added_by_a_newer_server")


def test_missing_optional_field_takes_its_default() -> None:
    user = User.from_json({"id": 3, "username": "mina", "email": "m@example.com", "role": "admin"})
    assert user.is_active is True and user.last_login_at is None
    assert [c.author for c in Comment.many([{"id": 1}, {"id": 2, "author": "jun"}])] == [None, "jun"]


def test_results_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        User.from_json({"id": 1}).role = "admin"  # type: ignore[misc]


def test_an_uploads_percent_comes_from_its_progress_or_its_bytes() -> None:
    assert Upload.from_json({"id": 1, "progress": 42.5, "total_size": 100, "bytes_received": 10}).percent == 42.5
    assert Upload.from_json({"id": 2, "total_size": 200, "bytes_received": 50}).percent == 25.0
    assert Upload.from_json({"id": 3, "total_size": None, "bytes_received": 50}).percent is None  # tus, deferred
    assert ApiKey.from_json({"id": 4, "key_prefix": "kd_ab", "new_field": 1}).key_prefix == "kd_ab"


def test_a_video_page_and_detail_are_typed_all_the_way_down() -> None:
    page = VideoPage.from_json({"items": [{"id": 5, "title": "Goblin", "status": "failed",
                                           "missing_reason": "files gone", "series_id": 2, "extra": 1}],
                                "total": 40, "page": 1})
    assert page.total == 40 and page.items[0].shown_status == "missing" and page.items[0].series_id == 2
    detail = VideoDetail.from_json({"video": {"id": 5, "title": "Goblin"}, "jobs": [{"id": 9, "status": "queued"}],
                                    "views": {"total": 3}, "new_section": []})
    assert detail.video.title == "Goblin" and detail.jobs[0].status == "queued" and detail.renditions == []
