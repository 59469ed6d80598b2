"""Comments: the moderation queue (or every comment), approve, hide, delete."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from kdrama_tui.tui.formatting import short_time, truncate
from kdrama_tui.tui.results import Comment
from kdrama_tui.tui.screens.tables import TableSection

STATES = ("pending", "approved", "all")


class CommentsScreen(TableSection):
    SECTION = "comments"
    TABLE = "comments"
    CSS_PATH = "comments.tcss"
    RELOAD_ON = ("comment.", "video.deleted")
    BINDINGS = [
        Binding("a", "approve", "Approve"),
        Binding("h", "hide", "Hide"),
        Binding("d,delete", "delete", "Delete"),
        Binding("f", "filter", "Show"),
        Binding("r", "reload", "Refresh"),
    ]

    class Loaded(Message):
        def __init__(self, comments: list[Comment]) -> None:
            super().__init__()
            self.comments = comments

    def __init__(self) -> None:
        super().__init__()
        self.state = "pending"
        self.comments: dict[str, Comment] = {}

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="comments", cursor_type="row", zebra_stripes=True)
        table.add_columns("ID", "Video", "State", "By", "When", "Comment")
        yield table
        with VerticalScroll(id="comment-detail", classes="detail"):
            yield Static("", id="comment-text", markup=False)

    def on_mount(self) -> None:  # SectionScreen.on_mount runs too
        self._titles()

    def _titles(self) -> None:
        self.query_one("#comments", DataTable).border_title = f"showing {self.state}"
        self.query_one("#comment-detail").border_title = "Comment"

    def empty_text(self, table_id: str) -> str:
        return {"pending": "no comment waits for approval (f shows approved or all)",
                "approved": "no approved comments yet (f shows pending or all)",
                "all": "no comments yet"}.get(self.state, "no comments")

    @work(exclusive=True, group="comments.load", description="Load comments", exit_on_error=False)
    async def reload(self) -> None:
        self.post_message(self.Loaded(await self.api.comments(self.state)))

    def on_comments_screen_loaded(self, message: Loaded) -> None:
        self.comments = {str(c.id): c for c in message.comments}
        self.fill_table(self.query_one("#comments", DataTable), (
            (str(c.id), (str(c.id), truncate(c.video_title, 24),
                            "approved" if c.is_approved else "pending", c.author or "anonymous",
                            short_time(c.created_at), truncate(" ".join(c.content.split()), 60)))
            for c in message.comments))
        self._show_selected()

    @on(DataTable.RowHighlighted, "#comments")
    def _show_selected(self) -> None:
        comment = self.selected(quiet=True)
        self.query_one("#comment-text", Static).update(
            comment.content if comment else "no comment here" if not self.comments else "")

    def selected(self, quiet: bool = False) -> Comment | None:
        comment = self.comments.get(self.selected_key(self.query_one("#comments", DataTable)) or "")
        if comment is None and not quiet:
            self.notify("no comment selected", severity="warning", markup=False)
        return comment

    def _moderate(self, approved: bool) -> None:
        comment = self.selected()
        if comment is None:
            return
        if comment.is_approved == approved:
            self.notify(f"comment {comment.id} is already {'approved' if approved else 'hidden'}",
                        severity="warning", markup=False)
            return
        self.run_call(f"{'Approve' if approved else 'Hide'} comment {comment.id}",
                      lambda: self.api.moderate_comment(comment.id, approved),
                      f"comment {comment.id} {'approved' if approved else 'hidden'}")

    def action_approve(self) -> None:
        self._moderate(True)

    def action_hide(self) -> None:
        self._moderate(False)

    def action_delete(self) -> None:
        comment = self.selected()
        if comment is None:
            return
        self.confirm(f"Delete comment {comment.id} on {comment.video_title} for good?",
                     lambda: self.run_call(f"Delete comment {comment.id}",
                                           lambda: self.api.delete_comment(comment.id),
                                           f"comment {comment.id} deleted"), yes="Delete")

    def action_filter(self) -> None:
        self.state = STATES[(STATES.index(self.state) + 1) % len(STATES)]
        self._titles()
        self.reload()
