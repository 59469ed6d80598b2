"""A labelled progress bar for one upload or transcode; its percentage comes from events."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from kdrama_tui.tui.formatting import truncate


def percent_from(data: dict[str, Any]) -> float | None:
    """A 0-100 figure from an event's or an API row's fields, whichever it carries."""
    for key in ("percent", "progress"):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0.0, min(100.0, float(value)))
    done = next((data[k] for k in ("received_bytes", "offset", "bytes_received", "received") if k in data), None)
    total = next((data[k] for k in ("total_size", "size", "total") if k in data), None)
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        return max(0.0, min(100.0, 100.0 * done / total))
    return None


class ProgressRow(Horizontal):
    DEFAULT_CSS = """
    ProgressRow { height: 1; width: 1fr; }
    ProgressRow .progress-label { width: 1fr; min-width: 16; max-width: 40; padding-right: 1; }
    ProgressRow ProgressBar { width: auto; }
    """

    def __init__(self, label: str, percent: float, *, id: str) -> None:
        super().__init__(id=id)
        self.label_text = label
        self.initial = percent

    def compose(self) -> ComposeResult:
        yield Label(truncate(self.label_text, 40), classes="progress-label", markup=False)
        # Always a known total: an indeterminate bar animates 15 times a second, even when idle.
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)

    def on_mount(self) -> None:
        self.set_percent(self.initial)

    def set_percent(self, percent: float) -> None:
        self.query_one(ProgressBar).update(progress=percent)

    def set_label(self, label: str) -> None:
        self.label_text = label
        self.query_one(".progress-label", Label).update(truncate(label, 40))
