"""The jobs API (admin) and adding subtitle tracks over HTTP (owner or admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import m3u8
import pytest

from kdrama_tui.config import Settings
from kdrama_tui.repositories import repos_of
from kdrama_tui.server.app import create_app
from kdrama_tui.services.container import Services, build_services
from tests.media.test_subtitles import KOREAN_SRT, TWO_LANGUAGE_SMI
from tests.support.media import accept, assert_recorded_files_match_storage


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Services]:
    settings.security.bcrypt_rounds = 4
    settings.transcode.segment_seconds = 1
    settings.transcode.segment_type = "mpegts"  # the subtitle endpoint must then write X-TIMESTAMP-MAP
    services = await build_services(settings)
    try:
        yield services
    finally:
        await services.close()


async def key_for(svc: Services, name: str, role: str) -> tuple[int, dict[str, str]]:
    user = await svc.accounts.create_user(name, f"{name}@example.org", "correct horse battery", role)
    plaintext, _ = await svc.accounts.issue_api_key(user.id)
    return user.id, {"X-API-Key": plaintext}


async def test_admins_watch_and_steer_the_queue(svc: Services, clips: dict[str, Path], aiohttp_client) -> None:
    client = await aiohttp_client(create_app(svc))
    admin_id, admin = await key_for(svc, "boss", "admin")
    _, user = await key_for(svc, "viewer", "user")
    first = await accept(svc, clips["tiny"], uploader_id=admin_id, title="First")
    second = await accept(svc, clips["tiny"], uploader_id=admin_id, title="Second")

    assert (await client.get("/api/jobs")).status == 401
    assert (await client.get("/api/jobs", headers=user)).status == 403
    response = await client.get("/api/jobs?status=queued", headers=admin)
    assert response.status == 200
    assert [j["id"] for j in (await response.json())["items"]] == [first.job.id, second.job.id]

    response = await client.patch(f"/api/jobs/{second.job.id}", json={"priority": 1}, headers=admin)
    assert response.status == 200 and (await response.json())["priority"] == 1
    items = (await (await client.get("/api/jobs", headers=admin)).json())["items"]
    assert [j["id"] for j in items] == [second.job.id, first.job.id]
    assert items[0]["video_title"] == "Second"
    bad = await client.patch(f"/api/jobs/{second.job.id}", json={"priority": "high"}, headers=admin)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_priority"
    assert (await client.get("/api/jobs?status=bogus", headers=admin)).status == 400
    assert (await client.get("/api/jobs/abc", headers=admin)).status == 404
    assert (await client.get("/api/jobs/999", headers=admin)).status == 404

    cancel = await client.post(f"/api/jobs/{first.job.id}/cancel", headers=admin)
    assert cancel.status == 200 and (await cancel.json())["status"] == "cancelled"
    again = await client.post(f"/api/jobs/{first.job.id}/cancel", headers=admin)
    assert again.status == 409 and (await again.json())["error"]["code"] == "job_finished"
    assert (await client.post(f"/api/jobs/{second.job.id}/cancel", headers=user)).status == 403

    requeue = await client.post(f"/api/videos/{first.video.id}/transcode", json={"priority": 3}, headers=admin)
    assert requeue.status == 202
    job = await requeue.json()
    assert (job["status"], job["priority"], job["video_id"]) == ("queued", 3, first.video.id)
    conflict = await client.post(f"/api/videos/{first.video.id}/transcode", headers=admin)
    assert conflict.status == 409 and (await conflict.json())["error"]["code"] == "job_active"
    assert (await client.post("/api/videos/999/transcode", headers=admin)).status == 404
    assert (await client.post(f"/api/videos/{first.video.id}/transcode", headers=user)).status == 403

    assert await svc.media.queue.run_until_idle() == 2
    done = (await (await client.get("/api/jobs?status=completed", headers=admin)).json())["items"]
    assert {j["video_id"] for j in done} == {first.video.id, second.video.id}
    assert all(j["progress"] == 100 for j in done)
    openapi = await (await client.get("/api/openapi.json")).json()
    assert {"/api/jobs", "/api/jobs/{id}/cancel", "/api/videos/{id}/subtitles"} <= set(openapi["paths"])


async def test_subtitles_are_added_to_a_ready_video_without_reencoding(svc: Services, clips: dict[str, Path],
                                                                       aiohttp_client) -> None:
    client = await aiohttp_client(create_app(svc))
    owner_id, owner = await key_for(svc, "owner", "user")
    _, stranger = await key_for(svc, "stranger", "user")
    _, admin = await key_for(svc, "boss", "admin")
    accepted = await accept(svc, clips["basic"], uploader_id=owner_id)
    url = f"/api/videos/{accepted.video.id}/subtitles"

    early = await client.post(url + "?lang=ko", data=KOREAN_SRT.encode("cp949"), headers=owner)
    assert early.status == 409 and (await early.json())["error"]["code"] == "video_not_ready"
    await svc.media.queue.run_until_idle()
    hls = svc.storage.local_path(f"videos/{accepted.video.id}/hls")
    assert hls is not None
    segments_before = {p: p.stat().st_mtime_ns for p in hls.rglob("*.ts")}

    form = aiohttp.FormData()
    form.add_field("lang", "ko")
    form.add_field("label", "한국어")
    form.add_field("file", KOREAN_SRT.encode("cp949"), filename="drama.ko.srt", content_type="application/x-subrip")
    response = await client.post(url, data=form, headers=owner)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body == {"lang": "ko", "label": "한국어", "url": f"/hls/{accepted.video.id}/subs/ko.vtt",
                    "playlist": f"/hls/{accepted.video.id}/subs/ko.m3u8"}
    vtt = (hls / "subs" / "ko.vtt").read_text(encoding="utf-8")
    assert "X-TIMESTAMP-MAP=MPEGTS:" in vtt and "안녕하세요" in vtt

    # Raw body, several languages in one SAMI file: the one asked for is taken.
    raw = await client.post(url + "?lang=en&label=English", data=TWO_LANGUAGE_SMI.encode("cp949"), headers=admin)
    assert raw.status == 201
    assert "Hello &amp; welcome" in (hls / "subs" / "en.vtt").read_text(encoding="utf-8")

    master = m3u8.loads((hls / "master.m3u8").read_text())
    assert [(m.language, m.name, m.uri) for m in master.media] == [("ko", "한국어", "subs/ko.m3u8"),
                                                                  ("en", "English", "subs/en.m3u8")]
    assert all(p.stream_info.subtitles == "subs" and p.stream_info.codecs for p in master.playlists)
    assert {p: p.stat().st_mtime_ns for p in hls.rglob("*.ts")} == segments_before  # nothing re-encoded
    await assert_recorded_files_match_storage(svc, accepted.video.id)
    sources = await repos_of(svc.db).video_files.find_by_video(accepted.video.id, "subtitle_source")
    assert [(s.language, s.file_path.rsplit("/", 1)[1]) for s in sources] == [("ko", "00.srt"), ("en", "01.vtt")]

    forbidden = await client.post(url + "?lang=fr", data=b"1\n00:00:01,000 --> 00:00:02,000\nSalut\n",
                                  headers=stranger)
    assert forbidden.status == 403
    assert (await client.post(url + "?lang=fr", data=b"x")).status == 401
    broken = await client.post(url + "?lang=fr", data=b"\x00\xff" * 50, headers=owner)
    assert broken.status == 422 and (await broken.json())["error"]["code"] == "invalid_subtitle"
    no_lang = await client.post(url, data=KOREAN_SRT.encode(), headers=owner)
    assert no_lang.status == 400 and (await no_lang.json())["error"]["code"] == "invalid_language"
    huge = await client.post(url + "?lang=fr", data=b"a" * (10 * 1024 * 1024 + 1), headers=owner)
    assert huge.status == 413

    # A re-transcode keeps the tracks added later (their sources are kept beside the original).
    await svc.media.queue.enqueue(accepted.video.id)
    await svc.media.queue.run_until_idle()
    master = m3u8.loads((hls / "master.m3u8").read_text())
    assert sorted(m.language for m in master.media) == ["en", "ko"]
