"""The one-line section bar at the top of every section: number keys, or click a name."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

# (mode name, key, label): the order of the bar and of the number keys.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "1", "Dash"),
    ("videos", "2", "Videos"),
    ("series", "S", "Series"),
    ("uploads", "3", "Uploads"),
    ("jobs", "4", "Jobs"),
    ("users", "5", "Users"),
    ("keys", "6", "Keys"),
    ("comments", "7", "Comments"),
    ("backups", "8", "Backups"),
    ("logs", "9", "Logs"),
    ("settings", "0", "Settings"),
)
SECTION_TITLES = {
    "dashboard": "Dashboard", "videos": "Videos", "uploads": "Uploads", "jobs": "Jobs", "users": "Users",
    "keys": "API keys", "comments": "Comments", "backups": "Backups", "logs": "Logs", "settings": "Settings",
    "series": "Series",
}


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; width: 1fr; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, available: set[str] | frozenset[str] | None = None) -> None:
        parts: list[Content] = []
        for mode, key, label in SECTIONS:
            if available is not None and mode not in available:
                continue
            # A letter key that starts its label is bolded in place ("Series"), a digit goes in front.
            text = f"[b]{key}[/b]{label[1:]}" if label.startswith(key) else f"[b]{key}[/b]{label}"
            item = Content.from_markup(text)
            style = "reverse $accent" if mode == current else ""
            parts.append(item.stylize(f"{style} @click=app.section('{mode}')".strip()))
        super().__init__(Content(" ").join(parts), id="nav")
