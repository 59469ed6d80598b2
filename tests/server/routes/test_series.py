"""The series API over HTTP on both databases: admin vs anonymous, private episodes hidden, 409 on a taken
episode, validation errors in the documented shape, the videos API's episode fields and the grouped catalog."""

from __future__ import annotations

from typing import Any

from tests.support.world import World


async def _json(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_admin_builds_a_series_and_viewers_see_public_ready_episodes(world: World) -> None:
    client, admin = world.client, world.admin.headers
    body = {"title": "Goblin", "native_title": "도깨비", "alt_titles": ["Guardian: The Lonely and Great God"],
            "year": 2016, "genres": ["Fantasy"], "synopsis": "An immortal goblin.", "network": "tvN"}
    assert (await client.post("/api/series", json=body)).status == 401
    assert (await client.post("/api/series", json=body, headers=world.alice.headers)).status == 403
    created = await _json(await client.post("/api/series", json=body, headers=admin), 201)
    sid = created["id"]
    assert (created["title"], created["native_title"], created["seasons"], created["status"]) == \
        ("Goblin", "도깨비", [], "completed")

    first = await world.video(title="Goblin 1")
    second = await world.video(title="Goblin 2")
    hidden = await world.video(title="Goblin 3", is_public=False)
    attached = await _json(await client.post(f"/api/series/{sid}/episodes", headers=admin, json={
        "video_id": first.id, "season": 1, "episode": 1, "episode_title": "The Bride", "air_date": "2016-12-02"}),
        201)
    assert (attached["series_id"], attached["season_number"], attached["episode_number"], attached["air_date"],
            attached["segments"]) == (sid, 1, 1, "2016-12-02", [])
    for video, number in ((second, 2), (hidden, 3)):
        await _json(await client.post(f"/api/series/{sid}/episodes", headers=admin,
                                      json={"video_id": video.id, "episode": number}), 201)
    taken = await _json(await client.post(f"/api/series/{sid}/episodes", headers=admin,
                                          json={"video_id": hidden.id, "season": 1, "episode": 1}), 409)
    assert taken["error"]["code"] == "episode_taken" and taken["error"]["details"]["video_id"] == first.id
    bad = await _json(await client.post(f"/api/series/{sid}/episodes", headers=admin,
                                        json={"video_id": second.id, "episode": "two"}), 400)
    assert bad["error"]["code"] == "invalid_episode" and bad["error"]["details"] == {"field": "episode"}
    assert set(bad["error"]) == {"code", "message", "details"}
    assert (await client.post(f"/api/series/{sid}/episodes", json={"video_id": second.id, "episode": 9},
                              headers=world.alice.headers)).status == 403

    segments = {"segments": [{"type": "intro", "start": 0, "end": 90}]}
    season = await _json(await client.put(f"/api/series/{sid}/seasons/1/segments", json=segments, headers=admin),
                         200)
    assert len(season["video_ids"]) == 3
    await _json(await client.put(f"/api/videos/{second.id}/segments", headers=admin, json={"segments": [
        {"type": "intro", "start": 2, "end": 80}, {"type": "outro", "start": 5, "end": 6}]}), 200)
    refused = await _json(await client.put(f"/api/videos/{second.id}/segments", headers=admin,
                                           json={"segments": [{"type": "intro", "start": 9, "end": 3}]}), 400)
    assert refused["error"]["code"] == "invalid_segment"

    shown = await _json(await client.get(f"/api/series/{sid}"), 200)
    episodes = [e for s in shown["seasons"] for e in s["episodes"]]
    assert [e["video_id"] for e in episodes] == [first.id, second.id]  # the private one is not listed
    one = episodes[0]
    assert set(one) == {"video_id", "season", "episode", "episode_end", "title", "episode_title", "air_date",
                        "duration_seconds", "thumbnail_url", "subtitle_languages", "status", "watch_url",
                        "segments"}
    assert (one["season"], one["episode"], one["episode_title"], one["air_date"], one["status"]) == \
        (1, 1, "The Bride", "2016-12-02", "ready")
    assert one["subtitle_languages"] == ["en", "ko"] and one["watch_url"].endswith(f"/watch/{first.id}")
    assert one["thumbnail_url"].endswith(f"/hls/{first.id}/poster.jpg")
    assert one["segments"] == [{"type": "intro", "start": 0.0, "end": 90.0}]
    assert episodes[1]["segments"] == [{"type": "intro", "start": 2.0, "end": 80.0},
                                       {"type": "outro", "start": 5.0, "end": 6.0}]
    assert shown["synopsis"] == "An immortal goblin." and shown["episode_count"] == 2
    assert shown["poster_url"].endswith(f"/hls/{first.id}/poster.jpg")  # no poster set: the first episode's
    as_admin = await _json(await client.get(f"/api/series/{sid}", headers=admin), 200)
    assert len(as_admin["seasons"][0]["episodes"]) == 3
    assert "token=" in as_admin["seasons"][0]["episodes"][2]["thumbnail_url"]  # private: signed for the admin

    for q in ("도깨비", "Goblin", "Guardian: The Lonely and Great God", "Dokkaebi", "dokkae bi", "ㄷㄲㅂ"):
        listed = await _json(await client.get("/api/series", params={"q": q}), 200)
        assert [s["id"] for s in listed["items"]] == [sid], q
    listed = await _json(await client.get("/api/series", params={"genre": "fantasy", "year": "2016",
                                                                  "status": "completed", "limit": "5"}), 200)
    assert (listed["total"], listed["limit"], listed["offset"]) == (1, 5, 0)
    item = listed["items"][0]
    assert set(item) == {"id", "title", "native_title", "alt_titles", "year", "genres", "poster_url", "status",
                         "network", "episode_count", "seasons"}
    assert (item["episode_count"], item["seasons"], item["network"]) == (2, [1], "tvN")
    assert (await _json(await client.get("/api/series?status=ended"), 400))["error"]["code"] == "invalid_parameter"
    assert (await client.get("/api/series/999999")).status == 404

    # The videos API carries the episode fields; an admin can move an episode by PATCH, 409 when taken.
    video = await _json(await client.get(f"/api/videos/{second.id}"), 200)
    assert (video["series_id"], video["season_number"], video["episode_number"], video["episode_number_end"]) == \
        (sid, 1, 2, None)
    assert video["segments"][0]["type"] == "intro"
    moved = await _json(await client.patch(f"/api/videos/{second.id}", headers=admin,
                                           json={"episode_number": 4, "episode_number_end": 5, "title": "Goblin 4-5"}),
                        200)
    assert (moved["episode_number"], moved["episode_number_end"], moved["title"]) == (4, 5, "Goblin 4-5")
    clash = await _json(await client.patch(f"/api/videos/{second.id}", headers=admin, json={"episode_number": 1}), 409)
    assert clash["error"]["code"] == "episode_taken"
    assert (await client.patch(f"/api/videos/{first.id}", headers=world.alice.headers,
                               json={"episode_number": 7})).status == 403
    numbering = await _json(await client.get(f"/api/series/{sid}/seasons/1/numbering", headers=admin), 200)
    assert numbering == {"season": 1, "next_free": 6, "missing": [2]}

    renumbered = await _json(await client.post(f"/api/series/{sid}/renumber", headers=admin,
                                               json={"season": 1, "order": [second.id, first.id, hidden.id]}), 200)
    assert [(v["id"], v["episode_number"]) for v in renumbered["items"]] == [(second.id, 1), (first.id, 2),
                                                                            (hidden.id, 3)]
    assert (await client.delete(f"/api/series/{sid}/episodes/{hidden.id}", headers=admin)).status == 204
    assert (await client.delete(f"/api/series/{sid}/episodes/{hidden.id}", headers=admin)).status == 404
    patched = await _json(await client.patch(f"/api/series/{sid}", headers=admin, json={"status": "airing"}), 200)
    assert patched["status"] == "airing"
    assert (await client.delete(f"/api/series/{sid}", headers=admin)).status == 204
    assert (await _json(await client.get(f"/api/videos/{first.id}"), 200))["series_id"] is None


async def test_grouped_catalog_shows_a_series_as_one_card(world: World) -> None:
    client, admin = world.client, world.admin.headers
    sid = (await _json(await client.post("/api/series", headers=admin, json={"title": "Show", "genres": ["Romance"]}),
                       201))["id"]
    episodes = [await world.video(title=f"Show {n}") for n in (1, 2, 3)]
    lone = await world.video(title="A Film")
    for n, video in enumerate(episodes, 1):
        await _json(await client.post(f"/api/series/{sid}/episodes", headers=admin,
                                      json={"video_id": video.id, "episode": n}), 201)
    flat = await _json(await client.get("/api/videos"), 200)
    assert flat["total"] == 4
    grouped = await _json(await client.get("/api/videos", params={"group": "series"}), 200)
    assert grouped["total"] == 2
    kinds = [(i["kind"], i["id"]) for i in grouped["items"]]
    assert ("series", sid) in kinds and ("video", lone.id) in kinds
    card = next(i for i in grouped["items"] if i["kind"] == "series")
    assert card["episode_count"] == 3 and card["title"] == "Show"
    found = await _json(await client.get("/api/videos", params={"group": "series", "q": "show"}), 200)
    assert [(i["kind"], i["id"]) for i in found["items"]] == [("series", sid)]
    romance = await _json(await client.get("/api/videos", params={"group": "series", "genre": "romance"}), 200)
    assert {i["kind"] for i in romance["items"]} == {"series", "video"}  # the film is Romance too


async def test_unmatched_list_is_for_admins(world: World) -> None:
    assert (await world.client.get("/api/admin/unmatched")).status == 401
    assert (await world.client.get("/api/admin/unmatched", headers=world.alice.headers)).status == 403
    listed = await _json(await world.client.get("/api/admin/unmatched", headers=world.admin.headers), 200)
    assert listed == {"items": [], "total": 0, "limit": 50, "offset": 0}
    doc = await _json(await world.client.get("/api/openapi.json"), 200)
    for path in ("/api/series", "/api/series/{id}", "/api/series/{id}/episodes", "/api/videos/{id}/segments",
                 "/api/series/{id}/seasons/{n}/segments", "/api/admin/unmatched", "/api/series/{id}/renumber"):
        assert path in doc["paths"], path
    assert "requestBody" in doc["paths"]["/api/series"]["post"]
