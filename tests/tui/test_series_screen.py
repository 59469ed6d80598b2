"""Series section: create and edit a series, attach / renumber / detach episodes, season segments, and the
unmatched list's one-key attach and create; each checked in the database (both backends)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, Select, Static

from kdrama_tui.repositories import repos_of
from kdrama_tui.services.container import Services
from kdrama_tui.tui.screens.series_forms import EpisodeFormModal, SegmentsFormModal, SeriesFormModal
from kdrama_tui.tui.screens.series_numbers import label, missing_numbers, missing_text, season_gaps, spans
from tests.support.console import Recorder, Served, goto, select_row, settle, table_rows, type_into, wait_until


async def _video(svc: Services, owner: int, title: str, status: str = "ready", **extra: Any) -> Any:
    return await repos_of(svc.db).videos.create({"title": title, "uploader_user_id": owner, "status": status,
                                                 **extra})


async def _open_form(pilot: Any, key: str, form: type) -> Any:
    await pilot.press(key)
    return await wait_until(pilot, lambda: isinstance(pilot.app.screen, form) and pilot.app.screen,
                            what=f"{form.__name__}")


async def _submit(pilot: Any) -> None:
    pilot.app.clear_notifications()  # at 80x24 the last toast covers the dialog's buttons
    await pilot.click("#submit")
    await settle(pilot)


def _summary(pilot: Any) -> str:
    return str(pilot.app.screen.query_one("#series-summary", Static).render())


async def test_create_and_edit_a_series_with_validation(served: Served, dashboard: Any) -> None:
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "S", "series")
        await _open_form(pilot, "n", SeriesFormModal)
        await type_into(pilot, "#title", "Goblin")
        await type_into(pilot, "#native_title", "도깨비")
        await type_into(pilot, "#alt_titles", "Guardian: The Lonely and Great God, Dokkaebi ,")
        await type_into(pilot, "#year", "1850")
        await _submit(pilot)
        assert isinstance(pilot.app.screen, SeriesFormModal)  # refused here, nothing sent
        assert "1900 to 2100" in str(pilot.app.screen.query_one("#form-error", Static).render())
        await type_into(pilot, "#year", "2016")
        await type_into(pilot, "#genres", "Fantasy, Romance")
        await type_into(pilot, "#network", "tvN")
        await _submit(pilot)
        assert [r[1:5] for r in table_rows(pilot.app, "#series")] == [["Goblin", "도깨비", "2016", "completed"]]

        await _open_form(pilot, "e", SeriesFormModal)
        await pilot.click("#submit")  # unchanged: said so, nothing sent
        await settle(pilot)
        assert "nothing changed" in str(pilot.app.screen.query_one("#form-error", Static).render())
        pilot.app.screen.query_one("#status", Select).value = "airing"
        await _submit(pilot)
        assert "airing" in _summary(pilot)
        [series] = await repos_of(served.svc.db).series.list({})
        assert (series.title, series.native_title, series.year, series.network, series.status) == \
            ("Goblin", "도깨비", 2016, "tvN", "airing")
        assert series.alt_titles == ["Guardian: The Lonely and Great God", "Dokkaebi"]
        assert series.genres == ["Fantasy", "Romance"]
        # found by its romanized name, as a viewer would search
        assert [s["id"] for s in (await served.svc.series.search(_admin(), q="dokkaebi"))["items"]] == [series.id]

        await pilot.press("d", "y")
        await settle(pilot)
        assert await repos_of(served.svc.db).series.list({}) == []
        assert table_rows(pilot.app, "#series") == []


def _admin() -> Any:
    from kdrama_tui.services.catalog.service import Viewer

    return Viewer(admin=True)


async def test_attach_renumber_segments_and_detach(served: Served, dashboard: Any, recorder: Recorder) -> None:
    svc = served.svc
    series = await svc.series.create({"title": "Signal", "year": 2016})
    first = await _video(svc, served.admin.id, "Signal E01")
    misnamed = await _video(svc, served.admin.id, "Signal E03 (really E02)")
    later = await _video(svc, served.admin.id, "Signal E04", status="processing")
    await svc.series.attach(series.id, {"video_id": first.id, "season": 1, "episode": 1})
    async with dashboard() as pilot:
        await goto(pilot, "S", "series")
        await select_row(pilot, "#series", str(series.id))
        form = await _open_form(pilot, "a", EpisodeFormModal)
        assert form.query_one("#episode").value == "2"  # the next free number
        form.query_one("#video", Select).value = misnamed.id
        await type_into(pilot, "#episode", "3")
        await _submit(pilot)
        stored = await repos_of(svc.db).videos.get(misnamed.id)
        assert (stored.series_id, stored.season_number, stored.episode_number) == (series.id, 1, 3)
        assert "missing 2" in _summary(pilot)
        assert table_rows(pilot.app, "#series")[0][5:] == ["2/2", "2"]

        form = await _open_form(pilot, "a", EpisodeFormModal)  # a number already taken: the server's word
        form.query_one("#video", Select).value = later.id
        await type_into(pilot, "#episode", "1")
        await _submit(pilot)
        assert any("is already video" in n for n in recorder.notes("error"))

        await select_row(pilot, "#episodes", str(misnamed.id))
        form = await _open_form(pilot, "m", EpisodeFormModal)
        await type_into(pilot, "#episode", "2")
        await _submit(pilot)
        stored = await repos_of(svc.db).videos.get(misnamed.id)
        assert (stored.season_number, stored.episode_number, stored.status) == (1, 2, "ready")
        assert await repos_of(svc.db).jobs.find_by_video(misnamed.id) == []  # nothing transcoded again
        assert [r[0] for r in table_rows(pilot.app, "#episodes")] == ["S01E01", "S01E02"]
        assert "missing" not in _summary(pilot)

        await select_row(pilot, "#episodes", str(first.id))
        await _open_form(pilot, "i", SegmentsFormModal)
        await type_into(pilot, "#intro_start", "0:05")
        await type_into(pilot, "#intro_end", "1:30")
        await type_into(pilot, "#outro_start", "50:00")
        await pilot.click("#submit")  # an outro without its end is refused here
        await settle(pilot)
        assert "outro: give both" in str(pilot.app.screen.query_one("#form-error", Static).render())
        await type_into(pilot, "#outro_end", "3080")
        pilot.app.screen.query_one("#whole_season", Checkbox).value = True
        await _submit(pilot)
        segments = await repos_of(svc.db).segments.for_videos([first.id, misnamed.id])
        for video_id in (first.id, misnamed.id):
            assert sorted((s.type, s.start_seconds, s.end_seconds) for s in segments[video_id]) == \
                [("intro", 5.0, 90.0), ("outro", 3000.0, 3080.0)]
        assert "intro 0:05-1:30" in table_rows(pilot.app, "#episodes")[1][5]

        await select_row(pilot, "#episodes", str(first.id))
        await pilot.press("x")
        await pilot.press("y")
        await settle(pilot)
        stored = await repos_of(svc.db).videos.get(first.id)
        assert (stored.series_id, stored.episode_number) == (None, None)
        assert [r[0] for r in table_rows(pilot.app, "#episodes")] == ["S01E02"]
        assert "missing 1" in _summary(pilot)


async def test_unmatched_attach_and_create(served: Served, dashboard: Any) -> None:
    svc = served.svc
    repos = repos_of(svc.db)
    series = await svc.series.create({"title": "Crash Landing on You", "native_title": "사랑의 불시착"})
    taken = await _video(svc, served.admin.id, "CLOY E01 (second copy)")
    await repos.unmatched.record({"video_id": taken.id, "reason": "S01E01 already exists",
                                  "source_name": "Crash.Landing.on.You.E01.mkv", "show_title": "Crash Landing on You",
                                  "season": 1, "episode": 1})
    odd = await _video(svc, served.admin.id, "비밀의 숲 3화")
    await repos.unmatched.record({"video_id": odd.id, "reason": "no series folder",
                                  "source_name": "비밀의 숲 3화.mp4", "show_title": "비밀의 숲",
                                  "season": 1, "episode": 3})
    async with dashboard(size=(80, 24)) as pilot:
        await goto(pilot, "S", "series")
        await pilot.press("u")
        await settle(pilot)
        assert [r[0] for r in table_rows(pilot.app, "#unmatched")] == [str(taken.id), str(odd.id)]
        await select_row(pilot, "#unmatched", str(taken.id))
        form = await _open_form(pilot, "a", EpisodeFormModal)
        assert (form.query_one("#season").value, form.query_one("#episode").value) == ("1", "1")  # the guess
        form.query_one("#series", Select).value = series.id
        await type_into(pilot, "#episode", "2")  # the admin knows better: it is episode 2
        await _submit(pilot)
        stored = await repos.videos.get(taken.id)
        assert (stored.series_id, stored.episode_number) == (series.id, 2)
        assert [r[0] for r in table_rows(pilot.app, "#unmatched")] == [str(odd.id)]

        await select_row(pilot, "#unmatched", str(odd.id))
        form = await _open_form(pilot, "n", SeriesFormModal)
        assert form.query_one("#title").value == "비밀의 숲"
        await type_into(pilot, "#alt_titles", "Stranger")
        await _submit(pilot)
        assert table_rows(pilot.app, "#unmatched") == []
    entries, total = await repos.unmatched.page(limit=10, offset=0)
    assert (entries, total) == ([], 0)
    made = next(s for s in await repos.series.list({}) if s.id != series.id)
    assert (made.title, made.alt_titles) == ("비밀의 숲", ["Stranger"])
    stored = await repos.videos.get(odd.id)
    assert (stored.series_id, stored.season_number, stored.episode_number) == (made.id, 1, 3)


async def test_reloads_when_ingest_adds_a_series(served: Served, dashboard: Any) -> None:
    async with dashboard() as pilot:
        await goto(pilot, "S", "series")
        assert table_rows(pilot.app, "#series") == []
        await served.svc.series.create({"title": "Kingdom", "year": 2019})  # as ingest would, behind our back
        await wait_until(pilot, lambda: [r[1] for r in table_rows(pilot.app, "#series")] == ["Kingdom"],
                         what="the live reload")


def test_missing_numbers_count_two_episode_files_and_skip_specials() -> None:
    detail = {"seasons": [
        {"number": 0, "episodes": [{"episode": 5}]},
        {"number": 1, "episodes": [{"episode": 1, "episode_end": 2}, {"episode": 4}, {"episode": 8}]}]}
    assert missing_numbers(detail["seasons"][1]["episodes"]) == [3, 5, 6, 7]
    assert season_gaps(detail) == {1: [3, 5, 6, 7]}
    assert (spans([3, 5, 6, 7]), missing_text(detail)) == ("3, 5-7", "3, 5-7")
    assert label(1, 1, 2) == "S01E01-E02"
