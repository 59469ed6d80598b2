"""The help screen (``?`` or F1): what the current section is for, its keys, what each column means."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from kdrama_tui.tui.help import GLOBAL_KEYS, SECTION_HELP


def _table(rows: list[tuple[str, str]], head: str) -> Table:
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    table.title = head
    table.title_justify = "left"
    table.title_style = "bold underline"
    for key, text in rows:
        table.add_row(key, text)
    return table


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "modal.tcss"
    DEFAULT_CSS = """
    HelpScreen .block { margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def __init__(self, section: str, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.section = section
        self.section_title = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        info = SECTION_HELP.get(self.section)
        with Vertical(classes="dialog", id="help"):
            yield Label(f"Help · {self.section_title}   (esc closes)", classes="question", markup=False)
            with VerticalScroll():
                if info is not None:
                    yield Static(Text(info.summary), id="help-summary", classes="block")
                if self.keys:
                    yield Static(_table(self.keys, "Keys in this section"), id="help-keys", classes="block")
                if info is not None and info.columns:
                    yield Static(_table(list(info.columns), "Columns"), id="help-columns", classes="block")
                yield Static(_table(list(GLOBAL_KEYS), "Everywhere"), id="help-global")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows and page keys scroll a help longer than the screen

    def action_close(self) -> None:
        self.dismiss(None)
