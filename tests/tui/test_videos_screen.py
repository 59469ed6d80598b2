"""Videos section: search, sort, details, edit with validation, publish, retranscode, stop, delete, copy URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from textual.widgets import Input, Static, TextArea

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.tui.screens.video_form import VideoEditModal
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, type_into, wait_until


async def _video(svc: Services, owner: int, title: str, status: str = "ready", **extra: Any) -> Any:
    """A video with a stored original, as an upload leaves it."""
    video = await repos_of(svc.db).videos.create({"title": title, "uploader_user_id": owner, "status": status, **extra})
    key = f"originals/{uuid.uuid4().hex}/source.mkv"

    async def body() -> AsyncIterator[bytes]:
        yield b"\0" * 2048

    stored = await svc.storage.put_stream(key, body())
    await repos_of(svc.db).video_files.create({
        "video_id": video.id, "file_type": "original", "storage_provider": svc.storage.provider,
        "file_path": key, "file_size": stored.size, "checksum": stored.sha256})
    return video


def _detail(pilot: Any) -> str:
    return str(pilot.app.screen.query_one("#detail-text", Static).render())


async def test_search_sort_and_details(served: Served, dashboard: Any) -> None:
    svc = served.svc
    goblin = await _video(svc, served.admin.id, "Goblin", year=2016, actors=["Gong Yoo"])
    await _video(svc, served.admin.id, "Signal", status="failed", year=2016)
    await _video(svc, served.admin.id, "Kingdom", year=2019)
    await repos_of(svc.db).analytics.create({"video_id": goblin.id})
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "2", "videos")
        assert [r[1] for r in table_rows(pilot.app, "#videos")] == ["Kingdom", "Signal", "Goblin"]  # newest first
        await pilot.press("slash")
        await pilot.press(*"gong")
        await wait_until(pilot, lambda: [r[1] for r in table_rows(pilot.app, "#videos")] == ["Goblin"],
                         what="search result")
        await settle(pilot)
        assert "actors Gong Yoo" in _detail(pilot) and "views 1" in _detail(pilot)
        assert "files 1 (2.0 KiB)" in _detail(pilot)
        await pilot.press("escape")  # back to the table: number keys switch sections again
        pilot.app.screen.query_one("#search", Input).value = ""
        await settle(pilot)
        await pilot.click("#videos", offset=(6, 0))  # the Title header: sort by title, A to Z
        await settle(pilot)
        assert [r[1] for r in table_rows(pilot.app, "#videos")] == ["Goblin", "Kingdom", "Signal"]
        await pilot.press("s")  # next column (year), newest first
        await settle(pilot)
        assert [r[2] for r in table_rows(pilot.app, "#videos")] == ["2019", "2016", "2016"]


async def test_edit_metadata_with_validation(served: Served, dashboard: Any) -> None:
    video = await _video(served.svc, served.admin.id, "Goblin", year=2016)
    async with dashboard() as pilot:
        await goto(pilot, "2", "videos")
        await select_row(pilot, "#videos", str(video.id))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, VideoEditModal), what="edit form")
        await type_into(pilot, "#year", "1850")
        await pilot.click("#submit")
        await settle(pilot)
        assert isinstance(pilot.app.screen, VideoEditModal)  # refused here, nothing sent
        await type_into(pilot, "#year", "2017")
        await type_into(pilot, "#genre", "Fantasy")
        await type_into(pilot, "#actors", "Gong Yoo, Kim Go-eun ,")
        pilot.app.screen.query_one("#description", TextArea).text = "A goblin seeks a bride."
        await pilot.click("#submit")
        await settle(pilot)
        assert "genre Fantasy" in _detail(pilot)
    stored = await repos_of(served.svc.db).videos.get(video.id)
    assert (stored.year, stored.genre, stored.actors, stored.description) == \
        (2017, "Fantasy", ["Gong Yoo", "Kim Go-eun"], "A goblin seeks a bride.")
    assert stored.title == "Goblin"


async def test_publish_retranscode_stop_copy_and_delete(served: Served, dashboard: Any,
                                                       recorder: Recorder) -> None:
    svc = served.svc
    video = await _video(svc, served.admin.id, "Signal")
    await repos_of(svc.db).video_files.create({  # playable: what a finished transcode leaves
        "video_id": video.id, "file_type": "master_playlist", "storage_provider": "local",
        "file_path": f"videos/{video.id}/hls/master.m3u8", "file_size": 100, "checksum": "1" * 64})
    broken = await _video(svc, served.admin.id, "Kingdom", status="failed", is_public=False)
    async with dashboard() as pilot:
        await goto(pilot, "2", "videos")
        await select_row(pilot, "#videos", str(video.id))

        await pilot.press("v")
        await settle(pilot)
        assert (await repos_of(svc.db).videos.get(video.id)).is_public is False
        await pilot.press("c")  # a private video's link is a signed one
        await settle(pilot)
        assert any(n.startswith(f"copied {served.url}/watch/{video.id}?token=") for n in recorder.notes())
        await pilot.press("v")  # public again (once the list shows it): the plain link
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert f"copied {served.url}/watch/{video.id}" in recorder.notes()
        await select_row(pilot, "#videos", str(broken.id))
        await pilot.press("c")
        await settle(pilot)
        assert any(n.startswith(f"copied {served.url}/watch/{broken.id} (not playable yet") for n in recorder.notes())
        await select_row(pilot, "#videos", str(video.id))

        await pilot.press("t", "y")
        await settle(pilot)
        jobs = await repos_of(svc.db).jobs.find_by_video(video.id)
        assert [j.status for j in jobs] == ["queued"]
        await wait_until(pilot, lambda: "queued" in _detail(pilot), what="the job in the details")
        await pilot.press("t")  # one at a time: refused on this side
        await settle(pilot)
        assert any("already queued or running" in n for n in recorder.notes("warning"))

        await pilot.press("k", "y")
        await settle(pilot)
        assert [j.status for j in await repos_of(svc.db).jobs.find_by_video(video.id)] == ["cancelled"]

        await pilot.press("d")
        await pilot.press("n")
        await settle(pilot)
        assert await repos_of(svc.db).videos.find_by_id(video.id) is not None
        await pilot.press("d", "y")
        await settle(pilot)
        assert await repos_of(svc.db).videos.find_by_id(video.id) is None
        assert not list((svc.settings.media_root / "originals").glob("*/source.mkv"))[1:]  # its file went too
        assert [r[1] for r in table_rows(pilot.app, "#videos")] == ["Kingdom"]
