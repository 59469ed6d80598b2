"""Jobs: the transcode queue in order; change priority, cancel, retry, read why a job failed."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from kdrama_tui.tui.formatting import short_time, text_bar, truncate
from kdrama_tui.tui.results import Job
from kdrama_tui.tui.screens.tables import TableSection

FILTERS = {"all": None, "active": "queued,processing", "failed": "failed,cancelled"}
PROGRESS_COLUMN = "progress"
FINAL = ("completed", "failed", "cancelled")


class JobsScreen(TableSection):
    SECTION = "jobs"
    TABLE = "jobs"
    CSS_PATH = "jobs.tcss"
    RELOAD_ON = ("job.", "video.deleted")
    BINDINGS = [
        Binding("plus,equals_sign", "priority(-1)", "Raise"),
        Binding("minus", "priority(1)", "Lower"),
        Binding("x,delete", "cancel", "Cancel"),
        Binding("t", "retry", "Retry"),
        Binding("f", "filter", "Show"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, jobs: list[Job]) -> None:
            super().__init__()
            self.jobs = jobs

    def __init__(self) -> None:
        super().__init__()
        self.filter = "all"
        self.jobs: dict[str, Job] = {}
        self.live_ladders: dict[str, dict[str, Any]] = {}  # job.ladder events since the last load

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        for label, key in (("ID", "id"), ("Video", "video"), ("Status", "status"), ("Pri", "priority"),
                           ("Progress", PROGRESS_COLUMN), ("Try", "attempt"), ("Queued", "created")):
            table.add_column(label, key=key)
        yield table
        with VerticalScroll(id="job-detail", classes="detail"):
            yield Static("", id="job-text", markup=False)

    def on_mount(self) -> None:  # SectionScreen.on_mount runs too
        self._titles()

    def _titles(self) -> None:
        self.query_one("#jobs", DataTable).border_title = f"queue order · showing {self.filter}"
        self.query_one("#job-detail").border_title = "Job"

    def empty_text(self, table_id: str) -> str:
        shown = {"all": "", "active": "queued or running ", "failed": "failed or cancelled "}[self.filter]
        return f"no {shown}transcode jobs: a job is queued for every upload or import (f shows others)"

    @work(exclusive=True, group="jobs.load", description="Load the queue", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.jobs(FILTERS[self.filter])))

    def on_jobs_screen_loaded(self, message: Loaded) -> None:
        self.jobs = {str(j.id): j for j in message.jobs}
        self.live_ladders = {k: v for k, v in self.live_ladders.items() if k in self.jobs}
        self.fill_table(self.query_one("#jobs", DataTable), (
            (str(j.id), (str(j.id), truncate(j.video_title or f"video {j.video_id}", 30),
                         j.status, str(j.priority), self._progress(j), str(j.attempt or 1),
                         short_time(j.created_at)))
            for j in message.jobs))
        self._show_selected()

    @staticmethod
    def _progress(job: Job) -> str:
        if job.status in ("failed", "cancelled"):
            return job.status
        return text_bar(100 if job.status == "completed" else job.progress or 0, width=10)

    def on_server_event(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        key = str(data.get("job_id"))
        if key not in self.jobs:
            return
        if event.get("type") == "job.ladder":  # which renditions play already, how far the others are
            self.live_ladders[key] = data
            if key == self.selected_key(self.query_one("#jobs", DataTable)):
                self._show_selected()
            return
        if event.get("type") == "job.progress" and isinstance(data.get("progress"), int | float):
            self.jobs[key] = dataclasses.replace(self.jobs[key], progress=data["progress"])
            self.query_one("#jobs", DataTable).update_cell(key, PROGRESS_COLUMN,
                                                           Text(self._progress(self.jobs[key])))

    @staticmethod
    def _ladder_lines(job: Job, live: dict[str, Any] | None) -> list[str]:
        """Path, encoder and one line per rendition: from the job row, updated by job.ladder events."""
        ladder = job.ladder or {}
        renditions = [dict(r) for r in ladder.get("renditions") or []]
        if live:
            ladder = {**ladder, **{k: live[k] for k in ("path", "reason", "encoder") if live.get(k)}}
            for r in renditions:
                r["ready"] = r["name"] in live.get("renditions_ready", []) or r.get("ready")
                r["progress"] = live.get("renditions_progress", {}).get(r["name"], r.get("progress", 0))
        if not ladder:
            return []
        path = "source copy" if ladder.get("path") == "copy" else "full re-encode"
        lines = ["", f"path: {path} ({ladder.get('reason') or '?'})", f"encoder: {ladder.get('encoder') or '?'}"]
        for r in sorted(renditions, key=lambda r: -int(r.get("height") or 0)):
            state = "playable" if r.get("ready") else f"{text_bar(r.get('progress') or 0, width=10)}"
            source = "copied" if r.get("source") == "copy" else "encoded"
            lines.append(f"  {r['name']:>6} {r.get('width')}x{r.get('height')} {source:8} {state}")
        return lines

    @on(DataTable.RowHighlighted, "#jobs")
    def _show_selected(self) -> None:
        job = self.selected(quiet=True)
        text = ""
        if job is not None:
            lines = [f"job {job.id} of video {job.video_id} {job.video_title or ''}".rstrip(),
                     f"{job.status} · priority {job.priority} · attempt {job.attempt or 1}"
                     f" · queued {short_time(job.created_at)} · started {short_time(job.started_at)}"
                     f" · ended {short_time(job.completed_at)}"]
            lines += self._ladder_lines(job, self.live_ladders.get(str(job.id)))
            if job.error_message:
                lines += ["", "error:", job.error_message]
            for warning in job.warnings or []:
                lines.append(f"warning: {warning}")
            text = "\n".join(lines)
        self.query_one("#job-text", Static).update(text)

    def selected(self, quiet: bool = False) -> Job | None:
        job = self.jobs.get(self.selected_key(self.query_one("#jobs", DataTable)) or "")
        if job is None and not quiet:
            self.notify("no job selected", severity="warning", markup=False)
        return job

    def action_priority(self, step: int) -> None:
        job = self.selected()
        if job is None:
            return
        if job.status != "queued":
            self.notify("only a queued job's priority can change", severity="warning", markup=False)
            return
        priority = min(10, max(1, int(job.priority) + step))
        if priority == job.priority:
            return
        self.run_call(f"Set priority of job {job.id}", lambda: self.api.set_job_priority(job.id, priority),
                      f"job {job.id} priority {priority}")

    def action_cancel(self) -> None:
        job = self.selected()
        if job is None:
            return
        if job.status in FINAL:
            self.notify(f"job {job.id} has already ended ({job.status})", severity="warning", markup=False)
            return
        self.confirm(f"Cancel job {job.id} ({job.video_title or job.video_id})? A running ffmpeg is "
                     "stopped and its partial output removed.",
                     lambda: self.run_call(f"Cancel job {job.id}", lambda: self.api.cancel_job(job.id),
                                           f"job {job.id} cancelled"), yes="Cancel job")

    def action_retry(self) -> None:
        job = self.selected()
        if job is None:
            return
        if job.status not in ("failed", "cancelled"):
            self.notify("only a failed or cancelled job is retried", severity="warning", markup=False)
            return
        self.run_call(f"Retry video {job.video_id}", lambda: self.api.retry_transcode(job.video_id),
                      f"video {job.video_id} queued again")

    def action_filter(self) -> None:
        names = list(FILTERS)
        self.filter = names[(names.index(self.filter) + 1) % len(names)]
        self._titles()
        self.reload()
