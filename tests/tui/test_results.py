"""The admin client's result types read a newer or older server's JSON without breaking."""

from __future__ import annotations

import dataclasses

import pytest

from kdrama_tui.tui.results import ApiKey, Comment, Upload, User


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
