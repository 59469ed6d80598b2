"""The one-line section bar at the top of every section: number keys, or click a name."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

# (mode name, key, label): the order of the bar and of the number keys.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "1", "Dash"),
    ("videos", "2", "Videos"),
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
}


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; width: 1fr; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, available: set[str] | frozenset[str] | None = None, who: str = "") -> None:
        parts: list[Content] = []
        for mode, key, label in SECTIONS:
            if available is not None and mode not in available:
                continue
            item = Content.from_markup(f"[b]{key}[/b]{label}")
            style = "reverse $accent" if mode == current else ""
            parts.append(item.stylize(f"{style} @click=app.section('{mode}')".strip()))
        self.nav = Content(" ").join(parts)
        self.who = who  # "root (api key) · console", shown at the right when it fits
        super().__init__(self.nav, id="nav")

    def render(self) -> Content:
        width = self.size.width
        room = width - self.nav.cell_length - 2
        if not self.who or room < 8:
            return self.nav
        who = self.who if len(self.who) <= room else self.who.split(" · ")[0]  # the admin, at least
        if len(who) > room:
            return self.nav
        return self.nav + Content(" " * (width - self.nav.cell_length - len(who))) + Content(who)
