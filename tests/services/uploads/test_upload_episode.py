"""Uploads name their episode: the chunk API's metadata and tus Upload-Metadata take series (id or
title), season and episode; the finished upload is that episode, or a lone video on the unmatched list."""

from __future__ import annotations

import base64

from aiohttp.test_utils import TestClient

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from tests.support.uploads import Account, create_upload, random_bytes, upload_all

TUS = {"Tus-Resumable": "1.0.0"}


def _metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


async def _complete(client: TestClient, vip: Account, metadata: dict, seed: int) -> dict:
    data = random_bytes(40_000, seed=seed)
    upload = await create_upload(client, vip, data, 1, metadata=metadata)
    await upload_all(client, vip, upload, data)
    response = await client.post(f"/api/uploads/{upload['id']}/complete", headers=vip.headers)
    assert response.status == 202, await response.text()
    return await response.json()


async def test_chunk_and_tus_uploads_become_episodes(svc: Services, client: TestClient, vip: Account) -> None:
    first = await _complete(client, vip, {"title": "Show 1", "series": "Show", "episode": 1}, seed=1)
    video = await repos_of(svc.db).videos.get(first["video_id"])
    (series,) = await repos_of(svc.db).series.list()
    assert (series.title, video.series_id, video.season_number, video.episode_number) == ("Show", series.id, 1, 1)

    data = random_bytes(30_000, seed=2)
    response = await client.post("/api/tus/", data=data, headers={
        **TUS, **vip.headers, "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": _metadata(filename="show2.mkv", series=str(series.id), season="1", episode="2",
                                     episode_title="The Second")})
    assert response.status == 201, await response.text()
    token = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    upload = await repos_of(svc.db).uploads.find_one_by(token=token)
    assert upload.status == "completed"
    second = await repos_of(svc.db).videos.get(upload.video_id)
    assert (second.series_id, second.episode_number, second.episode_title) == (series.id, 2, "The Second")

    # The same episode again: the upload still becomes a video, a lone one on the admin's list.
    third = await _complete(client, vip, {"series": series.id, "episode": 2}, seed=3)
    assert (await repos_of(svc.db).videos.get(third["video_id"])).series_id is None
    [(entry, _)], total = await repos_of(svc.db).unmatched.page(limit=5, offset=0)
    assert total == 1 and entry.video_id == third["video_id"] and "already video" in entry.reason

    for bad, field in (({"series": "Show"}, "episode"), ({"episode": 3}, "series"),
                       ({"series": 999_999, "episode": 3}, "series"), ({"series": "Show", "episode": "x"}, "episode")):
        response = await client.post("/api/uploads", headers=vip.headers, json={
            "filename": "x.mkv", "total_size": 10, "total_chunks": 1, "metadata": bad})
        assert response.status == 400, bad
        assert (await response.json())["error"]["details"] == {"field": field}, bad
