"""Uploads: sessions in flight with live progress; abort one."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from kdrama_tui.tui.formatting import human_bytes, short_time, text_bar
from kdrama_tui.tui.results import Upload
from kdrama_tui.tui.screens.tables import TableSection
from kdrama_tui.tui.widgets.progress import percent_from

PROGRESS_COLUMN = "progress"


class UploadsScreen(TableSection):
    SECTION = "uploads"
    TABLE = "uploads"
    CSS_PATH = "uploads.tcss"
    RELOAD_ON = ("upload.",)
    BINDINGS = [
        Binding("x,delete", "abort", "Abort"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, uploads: list[Upload]) -> None:
            super().__init__()
            self.uploads = uploads

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, Upload] = {}

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="uploads", cursor_type="row", zebra_stripes=True)
        table.add_column("ID")
        table.add_column("File")
        table.add_column("By")
        table.add_column("Progress", key=PROGRESS_COLUMN)
        table.add_column("Size")
        table.add_column("Started")
        yield table

    def empty_text(self, table_id: str) -> str:
        return "no upload in flight: uploads show here while a client sends one (chunked or tus)"

    @work(exclusive=True, group="uploads.load", description="Load uploads", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.uploads()))

    def on_uploads_screen_loaded(self, message: Loaded) -> None:
        self.uploads = {str(u.id): u for u in message.uploads}
        self.fill_table(self.query_one("#uploads", DataTable), (
            (str(u.id), (str(u.id), u.filename, u.uploader or "?", text_bar(u.percent),
                         human_bytes(u.total_size), short_time(u.created_at)))
            for u in message.uploads))

    def on_server_event(self, event: dict[str, Any]) -> None:
        if event.get("type") != "upload.progress":
            return
        data = event.get("data") or {}
        key = str(data.get("upload_id", data.get("id", "")))
        percent = percent_from(data)
        table = self.query_one("#uploads", DataTable)
        if key in self.uploads and percent is not None:
            table.update_cell(key, PROGRESS_COLUMN, Text(text_bar(percent)))
        elif key not in self.uploads:
            self.mark_stale()

    def action_abort(self) -> None:
        upload = self.uploads.get(self.selected_key(self.query_one("#uploads", DataTable)) or "")
        if upload is None:
            self.notify("no upload selected", severity="warning", markup=False)
            return
        self.confirm(f"Abort the upload of {upload.filename} by {upload.uploader or '?'}? "
                     "Its received bytes are deleted.",
                     lambda: self.run_call(f"Abort upload {upload.id}",
                                           lambda: self.api.abort_upload(upload.id),
                                           f"upload {upload.id} aborted"), yes="Abort")
