"""Backups: run one now (with its progress), list local and cloud backups, restore one."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, ProgressBar, Static

from kdrama_tui.tui.formatting import human_bytes, short_time
from kdrama_tui.tui.messages import ActionSucceeded
from kdrama_tui.tui.screens.tables import TableSection

# How far along a backup is at each stage it reports (the upload stage also reports bytes).
STAGES = {"start": 5, "snapshot": 20, "verify": 50, "bundle": 70, "upload": 75}


class BackupsScreen(TableSection):
    SECTION = "backups"
    TABLE = "backups"
    CSS_PATH = "backups.tcss"
    RELOAD_ON = ("backup.",)
    BINDINGS = [
        Binding("b", "backup(False)", "Back up now"),
        Binding("u", "backup(True)", "Back up + cloud"),
        Binding("R", "restore", "Restore"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, body: dict[str, Any]) -> None:
            super().__init__()
            self.body = body

    def __init__(self) -> None:
        super().__init__()
        self.backups: dict[str, dict[str, Any]] = {}
        self.body: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="backup-status", classes="detail"):
            yield Static("", id="schedule", markup=False)
            with Horizontal(id="progress-row"):
                yield Label("idle", id="stage", markup=False)
                yield ProgressBar(total=100, show_eta=False, id="backup-progress")
        table: DataTable[str] = DataTable(id="backups", cursor_type="row", zebra_stripes=True)
        table.add_columns("Name", "Where", "Kind", "Made", "Size", "Encrypted")
        yield table

    def on_mount(self) -> None:  # SectionScreen.on_mount runs too
        self.query_one("#backup-status").border_title = "Backups"
        self.query_one("#progress-row").display = False

    def empty_text(self, table_id: str) -> str:
        return "no backups yet: b makes one now" + ("" if self.body.get("schedule", {}).get("enabled")
                                                     else " (the daily schedule is off)")

    @work(exclusive=True, group="backups.load", description="Load backups", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.backups()))

    def on_backups_screen_loaded(self, message: Loaded) -> None:
        body = self.body = message.body
        key = lambda b: f"{b['location']}:{b['name']}"  # noqa: E731 (a name for a tiny key function)
        self.backups = {key(b): b for b in body["items"]}
        schedule = body["schedule"]
        lines = [f"daily at {schedule['daily_at']} (last {short_time(schedule['last_daily'])}), weekly to the "
                 f"cloud on {schedule['weekly_on']} (last {short_time(schedule['last_weekly'])})"
                 if schedule["enabled"] else "the schedule is off (backup.enabled = false)",
                 "cloud: " + ("ready" if body["cloud_ready"] else "bucket set, no encryption key"
                              if body["cloud_configured"] else "not configured")]
        lines += contents_lines(body)
        if body.get("warning"):
            lines.append(body["warning"])
        self.query_one("#schedule", Static).update("\n".join(lines))
        if body["running"] and not self.query_one("#progress-row").display:
            self._progress("running", 5)
        self.fill_table(self.query_one("#backups", DataTable), (
            (key(b), (b["name"], b["location"], b["kind"], short_time(b["created_at"]), human_bytes(b["size"]),
                      "yes" if b["encrypted"] else "no"))
            for b in body["items"]))

    # ---- progress from events --------------------------------------------------------------------
    def on_server_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        data = event.get("data") or {}
        if kind == "backup.started":
            self._progress("starting", STAGES["start"])
        elif kind == "backup.progress":
            stage = str(data.get("stage", ""))
            percent = STAGES.get(stage.split(".")[0], 50)
            if stage == "upload" and data.get("total"):
                percent = 75 + 25 * min(1.0, float(data.get("done", 0)) / float(data["total"]))
            self._progress(stage, percent)
        elif kind == "backup.finished":
            self._progress(f"done: {data.get('name')} ({human_bytes(data.get('size'))})", 100)
        elif kind == "backup.failed":
            self._progress(f"failed during {data.get('stage')}: {data.get('error')}", 0)

    def _progress(self, stage: str, percent: float) -> None:
        self.query_one("#progress-row").display = True
        self.query_one("#stage", Label).update(stage)
        self.query_one("#backup-progress", ProgressBar).update(progress=percent)

    # ---- actions ---------------------------------------------------------------------------------
    def action_backup(self, cloud: bool) -> None:
        if self.body.get("running"):
            self.notify("a backup is already running", severity="warning", markup=False)
            return
        if cloud and not self.body.get("cloud_ready"):
            self.notify("cloud backups need backup.cloud_bucket and backup.encryption_key", severity="warning",
                        markup=False)
            return
        self.run_call("Start a backup", lambda: self.api.run_backup(cloud),
                      "backup started" + (" (with a cloud copy)" if cloud else ""))

    @on(DataTable.RowSelected, "#backups")
    def _row_chosen(self) -> None:  # enter or a double click; the dialog still asks
        self.action_restore()

    def action_restore(self) -> None:
        backup = self.backups.get(self.selected_key(self.query_one("#backups", DataTable)) or "")
        if backup is None:
            self.notify("no backup selected", severity="warning", markup=False)
            return
        self.confirm(f"Restore the database from {backup['name']} ({short_time(backup['created_at'])})? Changes "
                     "since then are lost (the current database is kept as a prerestore backup), and the server "
                     "restarts.", lambda: self.run_call(f"Restore {backup['name']}",
                                                       lambda: self.api.restore_backup(backup["name"]),
                                                       f"restored {backup['name']}"),
                     yes="Restore")

    def on_action_succeeded(self, message: ActionSucceeded) -> None:
        result = message.result
        if isinstance(result, dict) and "restored" in result:
            message.prevent_default()
            then = ("the server restarts now" if result.get("restarting")
                    else "restart the server to use it")
            kept = f"; the replaced database is kept as {result['previous_copy']}" \
                if result.get("previous_copy") else ""
            checked = f"; media: {result['reconciled']['summary']}" if result.get("reconciled") else ""
            self.notify(f"restored {result['restored']}{kept}{checked}; {then}", timeout=10, markup=False)
            self.reload()


def contents_lines(body: dict[str, Any]) -> list[str]:
    """What a backup holds, what the last restore reconciled, and the last start-up check of the media."""
    lines = []
    holds = body.get("holds") or {}
    if holds:
        lines.append(f"a backup holds: {', '.join(holds.get('holds') or [])} · not the media files (back them "
                     "up apart)")
    restore = body.get("last_restore") or {}
    if restore:
        reconciled = (restore.get("reconciled") or {}).get("summary") or "media not checked"
        lines.append(f"last restore: {restore.get('restored')} at {short_time(restore.get('at'))} · {reconciled}")
        for item in (restore.get("reconciled") or {}).get("missing", [])[:3]:
            lines.append(f"  missing #{item['video_id']} {item['title']}: {item['reason']}")
    check = body.get("media_check") or {}
    if check:
        lines.append(f"media check at start-up ({short_time(check.get('at'))}): {check.get('summary')}")
    return lines
