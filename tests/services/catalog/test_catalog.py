"""Catalog API: search (any script, any case), filters, visibility, and owner/admin edits and deletes."""

from __future__ import annotations

import unicodedata

from kdrama_tui.models import Video
from kdrama_tui.repositories import repos_of
from tests.support.world import World


async def _row(world: World, owner_id: int, title: str, **kw: object) -> Video:
    data = {"title": title, "uploader_user_id": owner_id, "status": "ready", "is_public": True, **kw}
    return await repos_of(world.svc.db).videos.create(data)


async def _titles(world: World, headers: dict[str, str] | None = None, **params: object) -> list[str]:
    resp = await world.client.get("/api/videos", params={k: str(v) for k, v in params.items()}, headers=headers)
    assert resp.status == 200, await resp.text()
    return [item["title"] for item in (await resp.json())["items"]]


async def test_search_is_case_insensitive_and_works_for_korean(world: World) -> None:
    a = world.alice.user.id
    await _row(world, a, "사랑의 불시착", description="A paraglider lands in North Korea.",
               actors=["현빈", "손예진"], genre="Romance", year=2019)
    await _row(world, a, "Goblin", description="도깨비: an immortal and his bride.", actors=["Gong Yoo"],
               genre="Fantasy", year=2016)
    await _row(world, a, "ÉCOLE Drama", description="Students", actors=["Kim Go-eun"], genre="romance", year=2016)
    assert await _titles(world, q="불시착") == ["사랑의 불시착"]
    assert await _titles(world, q="도깨비") == ["Goblin"]
    assert await _titles(world, q="GOBLIN") == ["Goblin"]
    assert await _titles(world, q="école") == ["ÉCOLE Drama"]
    assert await _titles(world, q="paraGLIDER") == ["사랑의 불시착"]
    assert await _titles(world, q="gong yoo") == ["Goblin"]
    assert await _titles(world, q="손예진") == ["사랑의 불시착"]
    # Decomposed Hangul (as macOS file names carry it) finds the composed title and the other way round.
    assert await _titles(world, q=unicodedata.normalize("NFD", "불시착")) == ["사랑의 불시착"]
    assert await _titles(world, q="100%") == []
    assert await _titles(world, q="_") == []
    assert sorted(await _titles(world, genre="ROMANCE")) == sorted(["ÉCOLE Drama", "사랑의 불시착"])
    assert sorted(await _titles(world, year=2016)) == ["Goblin", "ÉCOLE Drama"]
    assert await _titles(world, actor="gong") == ["Goblin"]
    assert await _titles(world, actor="현빈") == ["사랑의 불시착"]
    assert await _titles(world, genre="romance", year=2016) == ["ÉCOLE Drama"]


async def test_visibility_anonymous_owner_admin(world: World) -> None:
    a, b = world.alice.user.id, world.bob.user.id
    await _row(world, a, "public ready")
    await _row(world, a, "alice private", is_public=False)
    await _row(world, a, "alice processing", status="processing")
    await _row(world, b, "bob private", is_public=False)
    await _row(world, b, "bob failed", status="failed")
    assert await _titles(world) == ["public ready"]
    assert sorted(await _titles(world, world.alice.headers)) == ["alice private", "alice processing", "public ready"]
    assert sorted(await _titles(world, world.bob.headers)) == ["bob failed", "bob private", "public ready"]
    assert len(await _titles(world, world.admin.headers)) == 5
    assert await _titles(world, world.admin.headers, status="failed") == ["bob failed"]
    assert await _titles(world, status="processing") == []
    assert await _titles(world, q="private") == []


async def test_pagination_and_bad_parameters(world: World) -> None:
    for i in range(7):
        await _row(world, world.alice.user.id, f"Episode {i}")
    resp = await world.client.get("/api/videos", params={"per_page": "3", "page": "3"})
    data = await resp.json()
    assert (data["total"], data["page"], data["per_page"]) == (7, 3, 3)
    assert [v["title"] for v in data["items"]] == ["Episode 0"]
    first = await (await world.client.get("/api/videos", params={"per_page": "3"})).json()
    assert [v["title"] for v in first["items"]] == ["Episode 6", "Episode 5", "Episode 4"]
    assert (await (await world.client.get("/api/videos", params={"page": "9"})).json())["items"] == []
    for params in ({"per_page": "0"}, {"per_page": "101"}, {"page": "0"}, {"page": "x"}, {"year": "abc"},
                   {"status": "deleted"}, {"q": "x" * 201}):
        resp = await world.client.get("/api/videos", params=params)
        assert resp.status == 400, params
        assert (await resp.json())["error"]["code"] == "invalid_parameter"


async def test_items_hide_internals_and_sign_private_posters(world: World) -> None:
    private = await world.video(is_public=False)
    data = await (await world.client.get("/api/videos", headers=world.alice.headers)).json()
    item = data["items"][0]
    assert "search_text" not in item and "actors_text" not in item
    assert item["thumbnail_url"].split("?")[0].endswith(f"/hls/{private.id}/poster.jpg")
    poster = item["thumbnail_url"].split(str(world.client.make_url("/")).rstrip("/"))[-1]
    assert (await world.client.get(poster)).status == 200


async def test_get_patch_delete_rights(world: World) -> None:
    video = await world.video(is_public=False)
    url = f"/api/videos/{video.id}"
    assert (await world.client.get(url)).status == 404
    assert (await world.client.get(url, headers=world.bob.headers)).status == 404
    assert (await world.client.get(url, headers=world.alice.headers)).status == 200
    assert (await world.client.patch(url, json={"title": "x"})).status == 401
    assert (await world.client.patch(url, json={"title": "x"}, headers=world.bob.headers)).status == 404
    await repos_of(world.svc.db).videos.update(video.id, {"is_public": True})
    world.svc.playback.invalidate(video.id)
    assert (await world.client.patch(url, json={"title": "x"}, headers=world.bob.headers)).status == 403
    assert (await world.client.delete(url, headers=world.bob.headers)).status == 403
    resp = await world.client.patch(url, json={"title": "  새 제목  ", "year": "2020", "actors": "A, B",
                                               "status": "failed", "uploader_user_id": world.bob.user.id},
                                     headers=world.admin.headers)
    data = await resp.json()
    assert resp.status == 200
    assert (data["title"], data["year"], data["actors"], data["status"]) == ("새 제목", 2020, ["A", "B"], "ready")
    assert data["uploader_user_id"] == world.alice.user.id
    assert await _titles(world, q="제목") == ["새 제목"]
    for bad in ({"year": 1800}, {"title": ""}, {"is_public": "maybe"}, {"actors": [1, 2]}, {}, {"title": "x" * 201}):
        resp = await world.client.patch(url, json=bad, headers=world.alice.headers)
        assert resp.status == 400, bad
    resp = await world.client.patch(url, data=b"{not json", headers=world.alice.headers)
    assert resp.status == 400


async def test_delete_removes_stored_files_then_rows_and_publishes(world: World) -> None:
    video = await world.video()
    keep = await world.video(title="keep me")
    svc = world.svc
    original_key = "originals/abc123/source.mkv"
    source = svc.settings.work_dir / "source.mkv"
    source.write_bytes(b"original bytes")
    await svc.storage.put_file(original_key, source)
    await repos_of(svc.db).video_files.create({"video_id": video.id, "file_type": "original",
                                               "storage_provider": "local", "file_path": original_key,
                                               "file_size": 14, "checksum": "x"})
    await repos_of(svc.db).comments.create({"video_id": video.id, "content": "hi"})
    folder = svc.settings.media_root / "videos" / str(video.id)
    assert folder.is_dir()
    with svc.events.subscription() as events:
        resp = await world.client.delete(f"/api/videos/{video.id}", headers=world.alice.headers)
        assert resp.status == 204
        seen = [events.get_nowait().type for _ in range(events.qsize())]
    assert "video.deleted" in seen
    assert not folder.exists()
    assert not (svc.settings.media_root / "originals" / "abc123").exists()
    assert await repos_of(svc.db).videos.find_by_id(video.id) is None
    assert await repos_of(svc.db).video_files.find_by_video(video.id) == []
    assert await repos_of(svc.db).comments.find_by_video(video.id, approved_only=False) == []
    assert (await world.client.get(f"/hls/{video.id}/master.m3u8")).status == 404
    assert (await world.client.get(f"/hls/{keep.id}/master.m3u8")).status == 200
    assert (await world.client.delete(f"/api/videos/{video.id}", headers=world.alice.headers)).status == 404


async def test_patch_publishes_video_updated(world: World) -> None:
    video = await world.video()
    with world.svc.events.subscription() as events:
        await world.client.patch(f"/api/videos/{video.id}", json={"genre": "Thriller"}, headers=world.alice.headers)
        event = events.get_nowait()
    assert event.type == "video.updated" and event.data == {"video_id": video.id, "fields": ["genre"]}


async def test_backfill_indexes_rows_written_before_the_search_columns(world: World) -> None:
    db = world.svc.db
    video = await _row(world, world.alice.user.id, "Old Row 옛날")
    await db.execute("UPDATE videos SET search_text = NULL, actors_text = NULL WHERE id = :id", {"id": video.id})
    assert await _titles(world, q="옛날") == []
    assert await world.svc.catalog.backfill_search() == 1
    assert await _titles(world, q="옛날") == ["Old Row 옛날"]


async def test_facets_list_visible_genres_and_years(world: World) -> None:
    a = world.alice.user.id
    await _row(world, a, "one", genre="Romance", year=2019)
    await _row(world, a, "two", genre="Thriller", year=2021)
    await _row(world, a, "secret", genre="Secret", year=1999, is_public=False)
    data = await (await world.client.get("/api/catalog/facets")).json()
    assert data == {"genres": ["Romance", "Thriller"], "years": [2021, 2019]}
