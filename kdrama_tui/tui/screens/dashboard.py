"""The dashboard: server, videos by status, work in progress, disk, views, and the latest events."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import RichLog, Sparkline, Static

from kdrama_tui.tui.formatting import clock_time, event_summary, human_bytes, human_duration
from kdrama_tui.tui.screens.base import SectionScreen
from kdrama_tui.tui.widgets.progress import ProgressRow, percent_from

# Progress and "still waiting" events arrive every second or so: they move the In progress bars instead of
# filling Recent events with repeats.
REPEATING = (".progress", ".waiting")


def worth_reading(event: dict[str, Any]) -> bool:
    return not str(event.get("type", "")).endswith(REPEATING)


VIDEO_STATUSES = ("ready", "processing", "uploading", "failed")
FINISHED = (".completed", ".aborted", ".expired", ".finished", ".failed", ".cancelled")


class DashboardScreen(SectionScreen):
    SECTION = "dashboard"
    CSS_PATH = "dashboard.tcss"
    RELOAD_ON = ("video.", "job.", "upload.", "ingest.", "backup.", "user.", "comment.", "views.")
    RELOAD_DELAY = 1.0
    BINDINGS = [Binding("r", "reload", "Refresh")]

    class Loaded(Message):
        def __init__(self, stats: dict[str, Any]) -> None:
            super().__init__()
            self.stats = stats

    def __init__(self) -> None:
        super().__init__()
        self.started_at: float | None = None

    def compose_body(self) -> ComposeResult:
        with Grid(id="tiles"):
            yield Static("…", id="server", classes="tile", markup=False)
            yield Static("…", id="videos", classes="tile", markup=False)
            yield Static("…", id="work", classes="tile", markup=False)
            with Vertical(id="views", classes="tile"):
                yield Static("…", id="views-today")
                yield Sparkline([], id="views-spark")
        yield VerticalScroll(Static("nothing in progress", id="idle"), id="active")
        yield RichLog(id="events", max_lines=200, wrap=False, markup=False, auto_scroll=True)

    def on_mount(self) -> None:
        for widget_id, title in (("server", "Server"), ("videos", "Videos"), ("work", "Queue and disk"),
                                 ("views", "Views (14 days)"), ("active", "In progress"),
                                 ("events", "Recent events")):
            self.query_one(f"#{widget_id}").border_title = title
        log = self.query_one("#events", RichLog)
        for event in [e for e in self.kapp.recent_events if worth_reading(e)][-50:]:
            log.write(self._event_line(event))
        self.set_interval(30, self._show_uptime)  # uptime has minute resolution; nothing else ticks
        # (Textual then runs SectionScreen.on_mount too: it subscribes to events and loads.)

    # ---- data ------------------------------------------------------------------------------------
    @work(exclusive=True, group="dashboard.load", description="Load the dashboard", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.stats()))

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        stats = message.stats
        server = stats["server"]
        self.started_at = float(server["started_at"])
        self.server_lines = (server["address"], f"{server['database']} · v{server['version']}")
        self._show_uptime()
        by_status = stats["videos"]["by_status"]
        statuses = [*VIDEO_STATUSES, *sorted(set(by_status) - set(VIDEO_STATUSES))]
        self.query_one("#videos", Static).update(
            f"total {stats['videos']['total']}\n"
            + "  ".join(f"{name} {by_status.get(name, 0)}" for name in statuses))
        self.query_one("#work", Static).update(self._work_text(stats))
        views = stats["views"]
        self.query_one("#views-today", Static).update(f"today {views['today']}")
        self.query_one("#views-spark", Sparkline).data = [d["views"] for d in views["per_day"]]
        self._show_active(stats)

    def _show_uptime(self) -> None:
        if self.started_at is None:
            return
        address, details = self.server_lines
        uptime = human_duration(self.kapp.clock() - self.started_at)
        who = f"{self.kapp.mode} · {self.kapp.identity}" if self.kapp.identity else self.kapp.mode
        self.query_one("#server", Static).update(f"{address}\nup {uptime} · {details}\n{who}")

    @staticmethod
    def _work_text(stats: dict[str, Any]) -> str:
        jobs = stats["jobs"]["by_status"]
        lines = [f"queue {stats['queue_length']} · transcoding {jobs.get('processing', 0)} · "
                 f"uploads {stats['uploads']['active']}"]
        disk = stats["disk"]
        data = disk["data_dir"]
        if "error" in data:
            lines.append(f"disk: {data['error']}")
        else:
            lines.append(f"disk {human_bytes(data['free'])} free of {human_bytes(data['total'])}")
        storage = disk["storage"]
        files = storage["files"]
        lines.append(f"media {human_bytes(storage['bytes'])}, {files} file{'' if files == 1 else 's'} "
                     f"({storage['provider']})")
        return "\n".join(lines)

    def _show_active(self, stats: dict[str, Any]) -> None:
        wanted: dict[str, tuple[str, float]] = {}
        for upload in stats["uploads"]["items"]:
            wanted[f"upload-{upload['id']}"] = (f"↑ {upload['filename']}", percent_from(upload) or 0.0)
        for job in stats["jobs"]["active"]:
            wanted[f"job-{job['id']}"] = (f"⚙ {job['title']}", float(job.get("progress") or 0))
        box = self.query_one("#active", VerticalScroll)
        for row in list(box.query(ProgressRow)):
            if row.id not in wanted:
                row.remove()
        for row_id, (label, percent) in wanted.items():
            existing = box.query(f"#{row_id}")
            if existing:
                row = existing.first(ProgressRow)
                row.set_label(label)
                row.set_percent(percent)
            else:
                box.mount(ProgressRow(label, percent, id=row_id))
        self.query_one("#idle", Static).display = not wanted

    # ---- live events -----------------------------------------------------------------------------
    def on_server_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if worth_reading(event):
            self.query_one("#events", RichLog).write(self._event_line(event))
        data = event.get("data") or {}
        noun = kind.split(".", 1)[0]
        item_id = data.get(f"{noun}_id", data.get("id"))
        if noun not in ("upload", "job") or item_id is None:
            return
        rows = self.query(f"#{noun}-{item_id}")
        if kind.endswith(".progress"):
            percent = percent_from(data)
            if rows and percent is not None:
                rows.first(ProgressRow).set_percent(percent)
            elif not rows:
                self.mark_stale()  # a transfer that started before we loaded: fetch its label
        elif kind.endswith(FINISHED) and rows:
            rows.first(ProgressRow).remove()

    @staticmethod
    def _event_line(event: dict[str, Any]) -> Text:
        line = Text(clock_time(event.get("ts")), style="dim")
        kind = str(event.get("type", ""))
        style = "red" if kind.endswith((".failed", ".task_crashed")) else ""
        line.append("  ")
        line.append(event_summary(event), style=style)
        return line
