"""Series: the shows and their episodes in order, what is missing or not ready, and the files ingest could not
place (the unmatched list), with one key to attach one or to make a series from it."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from kdrama_tui.tui.formatting import human_duration, short_date, truncate
from kdrama_tui.tui.results import Video
from kdrama_tui.tui.screens.base import SectionScreen
from kdrama_tui.tui.screens.series_forms import EpisodeFormModal, SegmentsFormModal, SeriesFormModal, clock
from kdrama_tui.tui.screens.series_numbers import episodes_of, label, missing_text, season_gaps, spans

MAX_LISTED = 300  # series fetched with their episodes; a search narrows it down
PARALLEL = 6  # detail requests in flight at once


class SeriesScreen(SectionScreen):
    SECTION = "series"
    CSS_PATH = "series.tcss"
    AUTO_FOCUS = "#series"
    RELOAD_ON = ("series.", "video.", "ingest.")
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("n", "new", "New"),
        Binding("e", "edit", "Edit"),
        Binding("d", "delete", "Delete"),
        Binding("a", "attach", "Attach"),
        Binding("x,delete", "detach", "Detach"),
        Binding("m", "renumber", "Renumber"),
        Binding("i", "segments", "Intro/outro"),
        Binding("u", "unmatched", "Unmatched"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, details: list[dict[str, Any]], total: int, unmatched: list[dict[str, Any]],
                     lone: list[Video]) -> None:
            super().__init__()
            self.details, self.total, self.unmatched, self.lone = details, total, unmatched, lone

    def __init__(self) -> None:
        super().__init__()
        self.details: dict[str, dict[str, Any]] = {}
        self.unmatched_items: dict[str, dict[str, Any]] = {}
        self.lone_videos: list[Video] = []  # videos in no series: what "attach" offers
        self.showing_unmatched = False
        self._search_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ search any name: title, 한글, romanized, ㄷㄲㅂ", id="series-search", compact=True)
        series: DataTable[str] = DataTable(id="series", cursor_type="row", zebra_stripes=True)
        for key, name in (("id", "ID"), ("title", "Title"), ("native", "Native"), ("year", "Year"),
                          ("status", "Status"), ("eps", "Ready/eps"), ("missing", "Missing")):
            series.add_column(name, key=key)
        yield series
        unmatched: DataTable[str] = DataTable(id="unmatched", cursor_type="row", zebra_stripes=True)
        for key, name in (("id", "Video"), ("source", "File"), ("show", "Guess"), ("ep", "Ep"),
                          ("reason", "Why"), ("when", "Seen")):
            unmatched.add_column(name, key=key)
        yield unmatched
        with Vertical(id="series-detail", classes="detail"):
            yield Static("no series selected", id="series-summary", markup=False)
            episodes: DataTable[str] = DataTable(id="episodes", cursor_type="row", zebra_stripes=True)
            for key, name in (("ep", "Ep"), ("title", "Title"), ("status", "Status"), ("dur", "Length"),
                              ("subs", "Subs"), ("segments", "Segments")):
                episodes.add_column(name, key=key)
            yield episodes

    def on_mount(self) -> None:
        self.query_one("#series-detail").border_title = "Episodes"
        self.query_one("#unmatched").display = False

    # ---- loading ---------------------------------------------------------------------------------
    @work(exclusive=True, group="series.load", description="Load series", exit_on_error=False)
    async def reload(self) -> None:
        q = self.query_one("#series-search", Input).value.strip()
        found: list[dict[str, Any]] = []
        total = 0
        while len(found) < MAX_LISTED:
            page = await self.api.series_page(q=q, limit=100, offset=len(found))
            found.extend(page["items"])
            total = int(page["total"])
            if len(found) >= total or not page["items"]:
                break
        gate = asyncio.Semaphore(PARALLEL)

        async def detail(series_id: int) -> dict[str, Any]:
            async with gate:
                return await self.api.series_detail(series_id)

        details = await asyncio.gather(*(detail(s["id"]) for s in found[:MAX_LISTED]))
        unmatched = (await self.api.unmatched())["items"]
        lone: list[Video] = []
        for page_number in (1, 2, 3):
            body = await self.api.videos(page=page_number, per_page=100)
            lone.extend(v for v in body.items if v.series_id is None)
            if page_number * 100 >= body.total:
                break
        self.post_message(self.Loaded(list(details), total, unmatched, lone))

    def on_series_screen_loaded(self, message: Loaded) -> None:
        self.details = {str(d["id"]): d for d in message.details}
        self.unmatched_items = {str(u["video"]["id"]): u for u in message.unmatched}
        self.lone_videos = message.lone
        table = self.query_one("#series", DataTable)
        shown = len(message.details)
        table.border_subtitle = f"{shown} of {message.total}" if shown < message.total else str(shown)
        rows = []
        for d in message.details:
            eps = episodes_of(d)
            ready = sum(1 for ep in eps if ep.get("status") == "ready")
            rows.append((str(d["id"]), (str(d["id"]), truncate(d.get("title"), 34), truncate(d.get("native_title"), 16),
                                        str(d.get("year") or "-"), d.get("status") or "-", f"{ready}/{len(eps)}",
                                        truncate(missing_text(d), 20) or "-")))
        self.fill_table(table, rows)
        self.fill_table(self.query_one("#unmatched", DataTable), (
            (str(u["video"]["id"]), (str(u["video"]["id"]), truncate(u.get("source_name") or u["video"]["title"], 40),
                                     truncate(u.get("show_title"), 24) or "-",
                                     label(u.get("season"), u.get("episode")) if u.get("episode") is not None
                                     else "-", truncate(u.get("reason"), 30), short_date(u.get("recorded_at"))))
            for u in message.unmatched))
        self.query_one("#unmatched", DataTable).border_title = f"Unmatched ({len(message.unmatched)})"
        self._show_detail()

    @on(DataTable.RowHighlighted, "#series")
    def _series_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.selected_series(quiet=True)
        summary = self.query_one("#series-summary", Static)
        episodes = self.query_one("#episodes", DataTable)
        if detail is None:
            summary.update("no series selected" if self.details else "no series yet: n creates one")
            episodes.clear()
            return
        eps = episodes_of(detail)
        waiting = [ep for ep in eps if ep.get("status") != "ready"]
        names = [n for n in (detail.get("native_title"), *(detail.get("alt_titles") or [])) if n]
        lines = [f"#{detail['id']} {detail['title']}" + (f" ({detail['year']})" if detail.get("year") else "")
                 + f" · {detail.get('status') or '-'} · {detail.get('network') or 'no network'}"
                 + f" · genres {', '.join(detail.get('genres') or []) or '-'}",
                 f"also {', '.join(names) or '-'}"]
        gaps = season_gaps(detail)
        seasons = [f"season {s['number']}: {len(s['episodes'])} episodes"
                   + (f", missing {spans(gaps[s['number']])}" if s["number"] in gaps else "")
                   for s in detail.get("seasons") or []]
        lines.append(" · ".join(seasons) or "no episodes yet: a attaches a video")
        if waiting:
            lines.append("not ready: " + ", ".join(f"{label(ep['season'], ep['episode'])} {ep.get('status')}"
                                                   for ep in waiting))
        summary.update("\n".join(lines))
        self.fill_table(episodes, (
            (str(ep["video_id"]), (label(ep.get("season"), ep.get("episode"), ep.get("episode_end")),
                                   truncate(ep.get("episode_title") or ep.get("title"), 40), ep.get("status") or "",
                                   human_duration(ep["duration_seconds"]) if ep.get("duration_seconds") else "-",
                                   " ".join(ep.get("subtitle_languages") or []) or "-",
                                   " ".join(f"{s['type']} {clock(s['start'])}-{clock(s['end'])}"
                                            for s in ep.get("segments") or []) or "-"))
            for ep in eps))

    # ---- selection -------------------------------------------------------------------------------
    def selected_series(self, quiet: bool = False) -> dict[str, Any] | None:
        detail = self.details.get(self.selected_key(self.query_one("#series", DataTable)) or "")
        if detail is None and not quiet:
            self.notify("no series selected", severity="warning", markup=False)
        return detail

    def selected_episode(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        detail = self.selected_series()
        if detail is None:
            return None
        key = self.selected_key(self.query_one("#episodes", DataTable))
        episode = next((ep for ep in episodes_of(detail) if str(ep["video_id"]) == key), None)
        if episode is None:
            self.notify("no episode selected (tab moves to the episode list)", severity="warning", markup=False)
            return None
        return detail, episode

    def selected_unmatched(self) -> dict[str, Any] | None:
        item = self.unmatched_items.get(self.selected_key(self.query_one("#unmatched", DataTable)) or "")
        if item is None:
            self.notify("nothing unmatched to place", severity="warning", markup=False)
        return item

    # ---- search and views ------------------------------------------------------------------------
    @on(Input.Changed, "#series-search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.3, self.reload)

    @on(Input.Submitted, "#series-search")
    def _search_submitted(self) -> None:
        self.query_one("#series", DataTable).focus()

    def key_escape(self) -> None:
        if self.focused is self.query_one("#series-search", Input):
            self.query_one("#series", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#series-search", Input).focus()

    def action_unmatched(self) -> None:
        """Switch the top list between series and the unmatched imports."""
        self.showing_unmatched = not self.showing_unmatched
        unmatched = self.query_one("#unmatched", DataTable)
        unmatched.display = self.showing_unmatched
        self.query_one("#series", DataTable).display = not self.showing_unmatched
        self.query_one("#series-detail").display = not self.showing_unmatched
        (unmatched if self.showing_unmatched else self.query_one("#series", DataTable)).focus()

    # ---- series ----------------------------------------------------------------------------------
    def action_new(self) -> None:
        if self.showing_unmatched:
            self._series_from_unmatched()
            return

        def made(fields: dict[str, Any] | None) -> None:
            if fields:
                self.run_call("Create series", lambda: self.api.create_series(fields),
                              f"created series {fields['title']}")

        self.app.push_screen(SeriesFormModal(), made)

    def action_edit(self) -> None:
        detail = self.selected_series()
        if detail is None or self.showing_unmatched:
            return

        def edited(changes: dict[str, Any] | None) -> None:
            if changes:
                self.run_call(f"Save series {detail['id']}", lambda: self.api.update_series(detail["id"], changes),
                              f"saved {', '.join(sorted(changes))} of {detail['title']}")

        self.app.push_screen(SeriesFormModal(detail), edited)

    def action_delete(self) -> None:
        detail = self.selected_series()
        if detail is None or self.showing_unmatched:
            return
        count = len(episodes_of(detail))
        self.confirm(f"Delete the series {detail['title']}? Its {count} episodes stay in the library as lone "
                     "videos.", lambda: self.run_call(f"Delete series {detail['id']}",
                                                      lambda: self.api.delete_series(detail["id"]),
                                                      f"deleted series {detail['title']}"), yes="Delete")

    # ---- episodes --------------------------------------------------------------------------------
    def _next_free(self, detail: dict[str, Any], season: int = 1) -> int:
        eps = [ep for ep in episodes_of(detail) if ep.get("season") == season]
        return max((ep.get("episode_end") or ep.get("episode") or 0 for ep in eps), default=0) + 1

    def action_attach(self) -> None:
        if self.showing_unmatched:
            self._attach_unmatched()
            return
        detail = self.selected_series()
        if detail is None:
            return
        if not self.lone_videos:
            self.notify("every video is already an episode of a series", severity="warning", markup=False)
            return
        choices = [(truncate(f"#{v.id} {v.original_filename or v.title}", 50), v.id)
                   for v in self.lone_videos]

        def placed(form: dict[str, Any] | None) -> None:
            if form:
                placement = {"video_id": form["video_id"], "season": form["season"], "episode": form["episode"],
                             "episode_end": form["episode_end"]}
                where = label(form["season"], form["episode"], form["episode_end"])
                self.run_call(f"Attach video {form['video_id']}",
                              lambda: self.api.attach_episode(detail["id"], placement),
                              f"video {form['video_id']} is {where} of {detail['title']}")

        self.app.push_screen(EpisodeFormModal(f"Attach a video to {detail['title']}", videos=choices,
                                              episode=self._next_free(detail)), placed)

    def action_detach(self) -> None:
        chosen = self.selected_episode() if not self.showing_unmatched else None
        if chosen is None:
            return
        detail, ep = chosen
        name = label(ep["season"], ep["episode"], ep.get("episode_end"))
        self.confirm(f"Take {name} ({ep['title']}) out of {detail['title']}? The video stays in the library.",
                     lambda: self.run_call(f"Detach video {ep['video_id']}",
                                           lambda: self.api.detach_episode(detail["id"], ep["video_id"]),
                                           f"{ep['title']} is a lone video again"), yes="Detach")

    def action_renumber(self) -> None:
        """Fix a misnamed file: only its season/episode numbers change, the renditions stay."""
        chosen = self.selected_episode() if not self.showing_unmatched else None
        if chosen is None:
            return
        detail, ep = chosen

        def moved(form: dict[str, Any] | None) -> None:
            if form:
                move = {"video_id": ep["video_id"], "season": form["season"], "episode": form["episode"],
                        "episode_end": form["episode_end"]}
                self.run_call(f"Renumber video {ep['video_id']}",
                              lambda: self.api.renumber_episodes(detail["id"], [move]),
                              f"{ep['title']} is now {label(form['season'], form['episode'], form['episode_end'])}")

        self.app.push_screen(EpisodeFormModal(
            f"Renumber {label(ep['season'], ep['episode'], ep.get('episode_end'))} {ep['title']}",
            season=ep["season"], episode=ep["episode"], end=ep.get("episode_end"), submit="Renumber"), moved)

    def action_segments(self) -> None:
        chosen = self.selected_episode() if not self.showing_unmatched else None
        if chosen is None:
            return
        detail, ep = chosen
        season_size = sum(1 for e in episodes_of(detail) if e["season"] == ep["season"])

        def saved(form: dict[str, Any] | None) -> None:
            if not form:
                return
            segments = form["segments"]
            if form["whole_season"]:
                self.run_call(f"Segments of season {ep['season']}",
                              lambda: self.api.set_season_segments(detail["id"], ep["season"], segments),
                              f"segments set on every episode of season {ep['season']}")
            else:
                self.run_call(f"Segments of video {ep['video_id']}",
                              lambda: self.api.set_segments(ep["video_id"], segments),
                              f"segments of {label(ep['season'], ep['episode'])} saved")

        self.app.push_screen(SegmentsFormModal(ep, season_size), saved)

    # ---- unmatched -------------------------------------------------------------------------------
    def _attach_unmatched(self) -> None:
        item = self.selected_unmatched()
        if item is None:
            return
        if not self.details:
            self.notify("no series yet: n makes one from this file", severity="warning", markup=False)
            return
        video = item["video"]
        choices = [(truncate(f"{d['title']}" + (f" ({d['year']})" if d.get("year") else ""), 50), d["id"])
                   for d in sorted(self.details.values(), key=lambda d: d["title"].casefold())]

        def placed(form: dict[str, Any] | None) -> None:
            if form:
                placement = {"video_id": video["id"], "season": form["season"], "episode": form["episode"],
                             "episode_end": form["episode_end"]}
                self.run_call(f"Attach video {video['id']}",
                              lambda: self.api.attach_episode(form["series_id"], placement),
                              f"video {video['id']} attached as {label(form['season'], form['episode'])}")

        self.app.push_screen(EpisodeFormModal(
            f"Attach {truncate(item.get('source_name') or video['title'], 50)} to a series", series=choices,
            season=item.get("season") if item.get("season") is not None else 1, episode=item.get("episode")), placed)

    def _series_from_unmatched(self) -> None:
        item = self.selected_unmatched()
        if item is None:
            return
        video = item["video"]

        async def create_and_attach(form: dict[str, Any]) -> dict[str, Any]:
            series = await self.api.create_series(form["series"])
            return await self.api.attach_episode(series["id"], {
                "video_id": video["id"], "season": form["season"], "episode": form["episode"]})

        def made(form: dict[str, Any] | None) -> None:
            if form:
                self.run_call(f"Create series from video {video['id']}", lambda: create_and_attach(form),
                              f"created {form['series']['title']} with video {video['id']} as "
                              f"{label(form['season'], form['episode'])}")

        self.app.push_screen(SeriesFormModal(
            title=item.get("show_title") or video["title"], heading=f"New series from video {video['id']}",
            placement=(item.get("season"), item.get("episode"))), made)
