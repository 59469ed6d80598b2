"""Series repository on both databases: the 0009 schema's guarantees (one video per episode, segment spans,
SET NULL on series delete), ordered episodes, visibility, search keys stored as given, and the unmatched list."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from kdrama_tui.db import Database
from kdrama_tui.errors import DomainError, UniqueViolation
from kdrama_tui.repositories import repos_of
from kdrama_tui.repositories.series import SeriesSearch, Visibility


async def _user(db: Database, name: str = "owner") -> int:
    return (await repos_of(db).users.create({"username": name, "email": f"{name}@x.io", "password_hash": "h"})).id


async def _series(db: Database, title: str, **kw: Any) -> Any:
    data = {"title": title, "sort_title": title.casefold(), "title_key": title.casefold().replace(" ", ""),
            "search_keys": title.casefold().replace(" ", ""), **kw}
    return await repos_of(db).series.create(data)


async def _episode(db: Database, owner: int, series_id: int | None, season: int | None, episode: int | None,
                   **kw: Any) -> Any:
    return await repos_of(db).videos.create({
        "title": f"E{episode}", "uploader_user_id": owner, "status": "ready", "is_public": True,
        "series_id": series_id, "season_number": season, "episode_number": episode, **kw})


async def test_one_video_per_episode_and_ordered_listing(db: Database) -> None:
    owner = await _user(db)
    show = await _series(db, "Goblin", alt_titles=["도깨비"], genres=["Fantasy"], year=2016)
    assert show.alt_titles == ["도깨비"] and show.genres == ["Fantasy"] and show.status == "completed"
    third = await _episode(db, owner, show.id, 1, 3, air_date=date(2016, 12, 16))
    first = await _episode(db, owner, show.id, 1, 1, episode_number_end=2, episode_title="The Bride")
    special = await _episode(db, owner, show.id, 0, 1)
    with pytest.raises(UniqueViolation):
        await _episode(db, owner, show.id, 1, 3)
    # The same number in another season or another series is fine; lone videos have no numbers at all.
    await _episode(db, owner, show.id, 2, 3)
    other = await _series(db, "Other")
    await _episode(db, owner, other.id, 1, 3)
    await _episode(db, owner, None, None, None)
    await _episode(db, owner, None, None, None)

    listed = await repos_of(db).series.episodes(show.id, Visibility(admin=True))
    assert [(v.season_number, v.episode_number) for v in listed] == [(0, 1), (1, 1), (1, 3), (2, 3)]
    again = await repos_of(db).videos.get(third.id)
    assert again.air_date == date(2016, 12, 16)
    assert (await repos_of(db).videos.get(first.id)).episode_number_end == 2
    assert [v.id for v in await repos_of(db).series.episodes(show.id, Visibility(admin=True), season=0)] == \
        [special.id]
    stats = await repos_of(db).series.episode_stats([show.id, other.id], Visibility())
    assert (stats[show.id].episode_count, stats[show.id].seasons) == (4, [0, 1, 2])
    assert stats[show.id].cover_id == first.id  # the first regular episode, not the special

    with pytest.raises(DomainError):  # an end before the start is refused by the database itself
        await _episode(db, owner, show.id, 3, 5, episode_number_end=4)


async def test_deleting_a_series_keeps_its_videos_and_segments_check_their_span(db: Database) -> None:
    owner = await _user(db)
    show = await _series(db, "Show")
    video = await _episode(db, owner, show.id, 1, 1)
    segment = await repos_of(db).segments.create(
        {"video_id": video.id, "type": "intro", "start_seconds": 0.0, "end_seconds": 90.5})
    assert segment.end_seconds == 90.5
    with pytest.raises(DomainError):
        await repos_of(db).segments.create({"video_id": video.id, "type": "outro", "start_seconds": 10.0,
                                            "end_seconds": 10.0})
    with pytest.raises(DomainError):
        await repos_of(db).segments.create({"video_id": video.id, "type": "credits", "start_seconds": 1.0,
                                            "end_seconds": 2.0})
    async with db.transaction() as tx:
        saved = await repos_of(tx).segments.replace(video.id, [
            {"type": "recap", "start_seconds": 0.0, "end_seconds": 30.0},
            {"type": "outro", "start_seconds": 1300.0, "end_seconds": 1400.0}])
    assert [s.type for s in saved] == ["recap", "outro"]
    assert [s.type for s in (await repos_of(db).segments.for_videos([video.id]))[video.id]] == ["recap", "outro"]

    await repos_of(db).series.delete(show.id)
    kept = await repos_of(db).videos.get(video.id)
    assert kept.series_id is None and kept.status == "ready"
    await repos_of(db).videos.delete(video.id)
    assert await repos_of(db).segments.for_videos([video.id]) == {}


async def test_search_visibility_genre_and_keys(db: Database) -> None:
    alice, bob = await _user(db, "alice"), await _user(db, "bob")
    public = await _series(db, "Goblin", search_keys="goblin\n도깨비\ndokkaebi\nㄷㄲㅂ", genre_keys="|fantasy|romance|",
                           year=2016)
    private = await _series(db, "Secret Show", genre_keys="|romance|")
    empty = await _series(db, "Empty Show")
    await _episode(db, alice, public.id, 1, 1)
    await _episode(db, alice, public.id, 1, 2, status="processing")
    await _episode(db, alice, private.id, 1, 1, is_public=False)

    async def titles(**kw: Any) -> list[str]:
        found, total = await repos_of(db).series.search(SeriesSearch(**kw))
        assert total == len(found)
        return [s.title for s in found]

    assert await titles() == ["Goblin"]
    assert await titles(visibility=Visibility(viewer_id=alice)) == ["Goblin", "Secret Show"]
    assert await titles(visibility=Visibility(viewer_id=bob)) == ["Goblin"]
    assert await titles(visibility=Visibility(admin=True)) == ["Empty Show", "Goblin", "Secret Show"]
    assert await titles(key="ㄷㄲㅂ") == ["Goblin"]
    assert await titles(key="kkae") == ["Goblin"]
    assert await titles(key="100%") == []
    assert await titles(genre_key="fantasy") == ["Goblin"]
    assert await titles(genre_key="fanta") == []  # a whole genre, not part of one
    assert await titles(genre_key="romance", visibility=Visibility(admin=True)) == ["Goblin", "Secret Show"]
    assert await titles(year=2016, status="completed") == ["Goblin"]
    assert await titles(status="airing") == []
    stats = await repos_of(db).series.episode_stats([public.id], Visibility())
    assert stats[public.id].episode_count == 1  # the processing episode is not counted for viewers
    assert [s.id for s in await repos_of(db).series.find_by_key("dokkaebi")] == [public.id]
    assert [s.id for s in await repos_of(db).series.find_by_key("goblin")] == [public.id]
    assert await repos_of(db).series.find_by_key("dokkae") == []  # ingest matches whole names only
    assert empty.id not in {s.id for s in await repos_of(db).series.find_by_key("goblin")}


async def test_unmatched_entries_list_lone_videos_only(db: Database) -> None:
    owner = await _user(db)
    lone = await _episode(db, owner, None, None, None)
    placed = await _episode(db, owner, None, None, None)
    await repos_of(db).unmatched.record({"video_id": lone.id, "reason": "no episode number", "source_name": "a.mkv"})
    await repos_of(db).unmatched.record({"video_id": lone.id, "reason": "episode taken", "show_title": "Show",
                                         "season": 1, "episode": 2})
    await repos_of(db).unmatched.record({"video_id": placed.id, "reason": "no episode number"})
    show = await _series(db, "Show")
    await repos_of(db).videos.update(placed.id, {"series_id": show.id, "season_number": 1, "episode_number": 1})
    entries, total = await repos_of(db).unmatched.page(limit=10, offset=0)
    assert total == 1
    entry, video = entries[0]
    assert (entry.video_id, entry.reason, entry.season, entry.episode, video.id) == \
        (lone.id, "episode taken", 1, 2, lone.id)
    assert await repos_of(db).unmatched.resolve(lone.id)
    assert (await repos_of(db).unmatched.page(limit=10, offset=0))[1] == 0
