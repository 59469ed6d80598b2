"""Videos: search and sort the catalog, see a video's files and views, edit, publish, retranscode, delete."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Select, Static

from kdrama_tui.tui.client import ApiError
from kdrama_tui.tui.formatting import human_bytes, human_duration, short_date, truncate
from kdrama_tui.tui.results import Job, Video, VideoDetail
from kdrama_tui.tui.screens.tables import TableSection
from kdrama_tui.tui.screens.video_form import VideoEditModal

STATUSES = ("ready", "processing", "uploading", "failed", "missing")  # missing: failed, files found gone
# column key -> (label, sort key of a video)
COLUMNS: dict[str, tuple[str, Any]] = {
    "id": ("ID", lambda v: v.id),
    "title": ("Title", lambda v: (v.title or "").casefold()),
    "year": ("Year", lambda v: v.year or 0),
    "status": ("Status", lambda v: v.shown_status),
    "public": ("Public", lambda v: bool(v.is_public)),
    "created": ("Added", lambda v: v.created_at or ""),
}
MAX_LISTED = 500  # a search narrows it down; the catalog API pages by 100
ACTIVE_JOB = ("queued", "processing")


class VideosScreen(TableSection):
    SECTION = "videos"
    TABLE = "videos"
    CSS_PATH = "videos.tcss"
    AUTO_FOCUS = "#videos"  # the table, so number keys switch sections until "/" starts a search
    RELOAD_ON = ("video.", "job.", "comment.")
    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("v", "visibility", "Public"),
        Binding("t", "retranscode", "Transcode"),
        Binding("k", "cancel_job", "Stop job"),
        Binding("d,delete", "delete", "Delete"),
        Binding("c", "copy_url", "Copy URL"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, videos: list[Video], total: int) -> None:
            super().__init__()
            self.videos = videos
            self.total = total

    class DetailLoaded(Message):
        def __init__(self, detail: VideoDetail) -> None:
            super().__init__()
            self.detail = detail

    def __init__(self) -> None:
        super().__init__()
        self.videos: dict[str, Video] = {}
        self.order: list[Video] = []
        self.detail: VideoDetail | None = None
        self._stale_detail = False  # the shown detail may be out of date: fetch it again on the next load
        self._search_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="toolbar", id="video-toolbar"):
            yield Input(placeholder="/ search title, description, actors", id="search", compact=True)
            yield Select([(s, s) for s in STATUSES], prompt="any status", id="status", compact=True)
        table: DataTable[str] = DataTable(id="videos", cursor_type="row", zebra_stripes=True)
        for key, (label, _) in COLUMNS.items():
            table.add_column(label, key=key)
        yield table
        with VerticalScroll(id="video-detail", classes="detail"):
            yield Static("no video selected", id="detail-text", markup=False)

    def on_mount(self) -> None:  # SectionScreen.on_mount runs too
        self.query_one("#video-detail").border_title = "Details"

    # ---- loading ---------------------------------------------------------------------------------
    @work(exclusive=True, group="videos.load", description="Load videos", exit_on_error=False)
    async def reload(self) -> None:
        q = self.query_one("#search", Input).value.strip()
        status = self.query_one("#status", Select).value
        status_filter = status if isinstance(status, str) else None
        items: list[Video] = []
        page, total = 1, 0
        while len(items) < MAX_LISTED:
            body = await self.api.videos(q=q, status=status_filter, page=page, per_page=100)
            items.extend(body.items)
            total = body.total
            if len(items) >= total or not body.items:
                break
            page += 1
        self.post_message(self.Loaded(items[:MAX_LISTED], total))

    def on_videos_screen_loaded(self, message: Loaded) -> None:
        self.videos = {str(v.id): v for v in message.videos}
        self.order = list(message.videos)
        shown = len(message.videos)
        table = self.query_one("#videos", DataTable)
        table.border_subtitle = f"{shown} of {message.total}" if shown < message.total else f"{shown}"
        self._show_table()
        self._load_selected()

    def _show_table(self) -> None:
        sort_keys = [key for _, key in COLUMNS.values()]
        self.fill_table(self.query_one("#videos", DataTable), (
            (str(v.id), (str(v.id), truncate(v.title, 48), str(v.year or "-"), v.shown_status,
                         "yes" if v.is_public else "no", short_date(v.created_at)),
             tuple(key(v) for key in sort_keys))
            for v in self.order))

    def empty_text(self, table_id: str) -> str:
        if self.query_one("#search", Input).value.strip() or isinstance(self.query_one("#status", Select).value, str):
            return "no video matches this search and status"
        return ("no videos yet: drop files into the watch folder, upload one, or run `kdrama-tui ingest`")

    def selected(self, quiet: bool = False) -> Video | None:
        video = self.videos.get(self.selected_key(self.query_one("#videos", DataTable)) or "")
        if video is None and not quiet:
            self.notify("no video selected", severity="warning", markup=False)
        return video

    @on(DataTable.RowHighlighted, "#videos")
    def _highlighted(self) -> None:
        self._load_selected()

    def _load_selected(self) -> None:
        video = self.selected(quiet=True)
        if video is None:
            self.detail = None
            self.query_one("#detail-text", Static).update("no video selected")
        elif self.detail is None or self.detail.video.id != video.id or self._stale_detail:
            self.load_detail(video.id)

    @work(exclusive=True, group="videos.detail", description="Load the video's details", exit_on_error=False)
    async def load_detail(self, video_id: int) -> None:
        self.post_message(self.DetailLoaded(await self.api.video_detail(video_id)))

    def on_videos_screen_detail_loaded(self, message: DetailLoaded) -> None:
        self.detail = message.detail
        self._stale_detail = False
        self.query_one("#detail-text", Static).update(describe(message.detail, self.videos))

    def on_action_succeeded(self) -> None:
        self._stale_detail = True  # SectionScreen's handler then reloads

    def mark_stale(self) -> None:
        self._stale_detail = True
        super().mark_stale()

    # ---- search, filter, sort --------------------------------------------------------------------
    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.3, self.reload)  # one request per pause in typing

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.query_one("#videos", DataTable).focus()

    def key_escape(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.query_one("#videos", DataTable).focus()
        else:
            super().key_escape()

    @on(Select.Changed, "#status")
    def _status_changed(self) -> None:
        self.reload()

    def action_search_table(self) -> None:
        self.query_one("#search", Input).focus()  # the server searches the whole catalog, not the rows shown

    # ---- actions ---------------------------------------------------------------------------------
    def action_edit(self) -> None:
        video = self.selected()
        if video is None:
            return

        def edited(changes: dict[str, Any] | None) -> None:
            if changes:
                self.run_call(f"Save video {video.id}", lambda: self.api.update_video(video.id, **changes),
                              f"saved {', '.join(sorted(changes))} of video {video.id}")

        self.app.push_screen(VideoEditModal(video), edited)

    def action_visibility(self) -> None:
        video = self.selected()
        if video is None:
            return
        public = not video.is_public
        self.run_call(f"Make video {video.id} {'public' if public else 'private'}",
                      lambda: self.api.update_video(video.id, is_public=public),
                      f"{video.title} is now {'public' if public else 'private'}")

    def active_job(self) -> Job | None:
        if self.detail is None:
            return None
        return next((j for j in reversed(self.detail.jobs) if j.status in ACTIVE_JOB), None)

    def action_retranscode(self) -> None:
        video = self.selected()
        if video is None:
            return
        if self.active_job() is not None:
            self.notify("a transcode of this video is already queued or running", severity="warning",
                        markup=False)
            return
        self.confirm(f"Transcode {video.title} again? Its current renditions stay until the new ones are "
                     "ready.", lambda: self.run_call(f"Retranscode video {video.id}",
                                                     lambda: self.api.retry_transcode(video.id),
                                                     f"transcode of {video.title} queued"), yes="Transcode")

    def action_cancel_job(self) -> None:
        video = self.selected()
        job = self.active_job()
        if video is None:
            return
        if job is None:
            self.notify("no queued or running transcode for this video", severity="warning", markup=False)
            return
        self.confirm(f"Cancel transcode job {job.id} of {video.title}?",
                     lambda: self.run_call(f"Cancel job {job.id}", lambda: self.api.cancel_job(job.id),
                                           f"job {job.id} cancelled"), yes="Cancel job")

    def action_delete(self) -> None:
        video = self.selected()
        if video is None:
            return
        self.confirm(f"Delete {video.title} (video {video.id}) with all its files, views and comments? "
                     "This cannot be undone.",
                     lambda: self.run_call(f"Delete video {video.id}", lambda: self.api.delete_video(video.id),
                                           f"deleted {video.title}"), yes="Delete")

    def action_copy_url(self) -> None:
        video = self.selected()
        if video is not None:
            self.copy_url(video.id, bool(video.is_public), video.watch_url or "")

    @work(group="videos.copy", description="Get the watch URL", exit_on_error=False)
    async def copy_url(self, video_id: int, public: bool, url: str) -> None:
        note = ""
        if not public or not url:  # a private video's link carries a signed, expiring token
            try:
                url = (await self.api.playback(video_id)).get("watch_url") or url
            except ApiError as exc:
                if exc.code != "video_not_ready":
                    raise
                note = " (not playable yet" + ("; private: a signed link comes once it is ready)" if not public
                                               else ")")
        self.app.copy_to_clipboard(url)
        self.notify(f"copied {url}{note}", timeout=6, markup=False)


def describe(detail: VideoDetail, listed: dict[str, Video]) -> str:
    """The detail pane's text."""
    video = detail.video
    listed_video = listed.get(str(video.id))
    lines = [
        f"#{video.id} {video.title}" + (f" ({video.year})" if video.year else "")
        + f" · {video.shown_status} · {'public' if video.is_public else 'private'}",
        f"genre {video.genre or '-'} · actors {', '.join(video.actors or []) or '-'}",
        f"duration {human_duration(video.duration_seconds) if video.duration_seconds else '-'}"
        f" · original {video.original_filename or '-'} · added {short_date(video.created_at)}",
        f"renditions {' '.join(detail.renditions) or 'none yet'}"
        f" · subtitles {' '.join(detail.subtitles) or 'none'}",
        f"files {len(detail.files)} ({human_bytes(detail.stored_bytes)}) · views {detail.views.get('total', 0)}"
        f" (7 days {detail.views.get('last_7_days', 0)}) · comments {detail.comments.get('total', 0)}"
        f" ({detail.comments.get('pending', 0)} pending)",
    ]
    if video.missing_reason:
        lines.insert(1, f"missing: {video.missing_reason}")
    for job in detail.jobs[-3:]:
        line = f"job {job.id}: {job.status} {job.progress:g}% priority {job.priority}"
        ladder = job.ladder or {}
        if ladder:
            line += f" · {'source copy' if ladder.get('path') == 'copy' else 'full re-encode'}"
            pending = [f"{r['name']} {r.get('progress', 0)}%" for r in ladder.get("renditions") or []
                       if not r.get("ready")]
            if pending and job.status == "processing":
                line += f" · encoding {' '.join(pending)}"
        if job.error_message:
            line += f" · {truncate(job.error_message.splitlines()[-1], 80)}"
        lines.append(line)
    if listed_video is not None and listed_video.watch_url:
        lines.append(f"watch {listed_video.watch_url}")
    if video.description:
        lines.append("")
        lines.append(video.description)
    return "\n".join(lines)
