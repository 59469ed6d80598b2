"""The series service on both databases: names found in every form, episode placement with clear
conflicts, renumbering, segments, numbering help and visibility of a series' episodes."""

from __future__ import annotations

from typing import Any

import pytest

from kdrama_tui.errors import Conflict, NotFound, ValidationError
from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from kdrama_tui.services.catalog.service import Viewer
from tests.support.world import World

ADMIN = Viewer(admin=True)
ANONYMOUS = Viewer()


async def _video(world: World, title: str, **kw: Any) -> Video:
    data = {"title": title, "uploader_user_id": world.alice.user.id, "status": "ready", "is_public": True, **kw}
    return await repos_of(world.svc.db).videos.create(data)


async def _titles(world: World, q: str, viewer: Viewer = ANONYMOUS) -> list[str]:
    return [s["title"] for s in (await world.svc.series.search(viewer, q=q))["items"]]


async def test_series_is_found_by_any_of_its_names(world: World) -> None:
    series = world.svc.series
    goblin = await series.create({"title": "Goblin", "native_title": "도깨비",
                                  "alt_titles": ["Guardian: The Lonely and Great God"], "year": 2016,
                                  "genres": ["Fantasy", "Romance"]})
    cloy = await series.create({"title": "Crash Landing on You", "native_title": "사랑의 불시착", "year": 2019})
    for show in (goblin, cloy):
        await series.attach(show.id, {"video_id": (await _video(world, f"{show.title} 1")).id, "episode": 1})
    for q in ("도깨비", "Goblin", "Guardian: The Lonely and Great God", "Dokkaebi", "dokkae bi", "ㄷㄲㅂ"):
        assert await _titles(world, q) == ["Goblin"], q
    assert await _titles(world, "Sarangui Bulsichak") == ["Crash Landing on You"]
    assert await _titles(world, "ㅅㄹㅇㅂㅅㅊ") == ["Crash Landing on You"]
    assert [s["title"] for s in (await series.search(ANONYMOUS, genre="fantasy"))["items"]] == ["Goblin"]
    # Renaming rewrites the keys: the old name no longer finds it, the new romanization does.
    await series.update(cloy.id, {"native_title": "사랑의 착륙"})
    assert await _titles(world, "bulsichak") == []
    assert await _titles(world, "Sarangui Chak") == ["Crash Landing on You"]
    with pytest.raises(ValidationError) as bad:
        await series.create({"title": " ", "year": 2016})
    assert bad.value.details == {"field": "title"}
    with pytest.raises(ValidationError) as bad:
        await series.update(goblin.id, {"status": "finished"})
    assert bad.value.details == {"field": "status"}


async def test_episodes_are_placed_once_and_conflicts_say_who_holds_the_number(world: World) -> None:
    series = world.svc.series
    show = await series.create({"title": "Show"})
    one, two, three = [await _video(world, f"Show {n}") for n in (1, 2, 3)]
    double = await _video(world, "Show 4-5")
    await series.attach(show.id, {"video_id": one.id, "season": 1, "episode": 1})
    await series.attach(show.id, {"video_id": double.id, "season": 1, "episode": 4, "episode_end": 5,
                                  "episode_title": "Two in one", "air_date": "2021-01-09"})
    with pytest.raises(Conflict) as taken:
        await series.attach(show.id, {"video_id": two.id, "season": 1, "episode": 1})
    assert taken.value.code == "episode_taken" and taken.value.status == 409
    assert taken.value.details["video_id"] == one.id
    with pytest.raises(Conflict):  # 5 is inside the two-episode file
        await series.attach(show.id, {"video_id": two.id, "season": 1, "episode": 5})
    with pytest.raises(ValidationError):
        await series.attach(show.id, {"video_id": two.id, "season": 1, "episode": 3, "episode_end": 2})
    with pytest.raises(NotFound):
        await series.attach(show.id, {"video_id": 999_999, "episode": 9})
    await series.attach(show.id, {"video_id": two.id, "season": 1, "episode": 3})
    assert await series.numbering(show.id, 1) == {"season": 1, "next_free": 6, "missing": [2]}

    # Swapping two numbers in one request works (the unique index never sees both at once).
    await series.renumber(show.id, {"episodes": [{"video_id": one.id, "season": 1, "episode": 3},
                                                 {"video_id": two.id, "season": 1, "episode": 1}]})
    detail = await series.detail(show.id, ADMIN)
    episodes = detail["seasons"][0]["episodes"]
    assert [(e["video_id"], e["episode"], e["episode_end"]) for e in episodes] == \
        [(two.id, 1, None), (one.id, 3, None), (double.id, 4, 5)]
    assert episodes[2]["air_date"] == "2021-01-09" and episodes[2]["episode_title"] == "Two in one"
    await series.renumber(show.id, {"season": 1, "order": [one.id, two.id, double.id]})
    numbers = [(e["video_id"], e["episode"]) for e in (await series.detail(show.id, ADMIN))["seasons"][0]["episodes"]]
    assert numbers == [(one.id, 1), (two.id, 2), (double.id, 3)]
    with pytest.raises(NotFound):  # a video of no series cannot be renumbered into this one
        await series.renumber(show.id, {"episodes": [{"video_id": three.id, "episode": 7}]})

    await series.detach(show.id, two.id)
    assert (await repos_of(world.svc.db).videos.get(two.id)).series_id is None
    await series.delete(show.id)
    assert (await repos_of(world.svc.db).videos.get(one.id)).status == "ready"  # the files stay
    with pytest.raises(NotFound):
        await series.get(show.id)


async def test_segments_per_episode_and_per_season(world: World) -> None:
    series = world.svc.series
    show = await series.create({"title": "Show"})
    videos = [await _video(world, f"Show {n}") for n in (1, 2)]
    for n, video in enumerate(videos, 1):
        await series.attach(show.id, {"video_id": video.id, "episode": n})
    result = await series.set_season_segments(show.id, 1, {"segments": [{"type": "intro", "start": 0, "end": 90}]})
    assert result["video_ids"] == [v.id for v in videos]
    assert await series.set_segments(videos[1].id, {"segments": [
        {"type": "intro", "start": 5, "end": 80.5}, {"type": "outro", "start": 1200, "end": 1260}]}) == \
        [{"type": "intro", "start": 5.0, "end": 80.5}, {"type": "outro", "start": 1200.0, "end": 1260.0}]
    assert await series.segments(videos[0].id) == [{"type": "intro", "start": 0.0, "end": 90.0}]
    for bad in ([{"type": "intro", "start": 10, "end": 10}], [{"type": "credits", "start": 0, "end": 1}],
                [{"type": "intro", "start": 0, "end": 1}, {"type": "intro", "start": 2, "end": 3}]):
        with pytest.raises(ValidationError) as refused:
            await series.set_segments(videos[0].id, {"segments": bad})
        assert refused.value.code == "invalid_segment"
    with pytest.raises(NotFound):
        await series.set_season_segments(show.id, 7, {"segments": []})


async def test_viewers_see_public_ready_episodes_only(world: World) -> None:
    series = world.svc.series
    show = await series.create({"title": "Show"})
    ready = await _video(world, "ready")
    private = await _video(world, "private", is_public=False)
    processing = await _video(world, "processing", status="processing")
    for n, video in enumerate((ready, private, processing), 1):
        await series.attach(show.id, {"video_id": video.id, "episode": n})

    def ids(detail: dict[str, Any]) -> list[int]:
        return [e["video_id"] for s in detail["seasons"] for e in s["episodes"]]

    assert ids(await series.detail(show.id, ANONYMOUS)) == [ready.id]
    assert ids(await series.detail(show.id, Viewer(user_id=world.alice.user.id))) == \
        [ready.id, private.id, processing.id]
    assert ids(await series.detail(show.id, Viewer(user_id=world.bob.user.id))) == [ready.id]
    listed = (await series.search(ANONYMOUS))["items"]
    assert [(s["title"], s["episode_count"], s["seasons"]) for s in listed] == [("Show", 1, [1])]
    await series.detach(show.id, ready.id)
    with pytest.raises(NotFound):  # nothing left an anonymous viewer may watch
        await series.detail(show.id, ANONYMOUS)
    assert (await series.search(ANONYMOUS))["total"] == 0
