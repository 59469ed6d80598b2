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
# Used only where the full bar does not fit (80 columns since Series joined).
SHORT_LABELS = {"uploads": "Upl", "comments": "Comms", "backups": "Backup", "settings": "Set"}


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; width: 1fr; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, available: set[str] | frozenset[str] | None = None, who: str = "") -> None:
        self.full = self._bar(current, available, {})
        self.short = self._bar(current, available, SHORT_LABELS)
        self.who = who  # "root (api key) · console", shown at the right when it fits
        super().__init__(self.full, id="nav")

    @staticmethod
    def _bar(current: str, available: set[str] | frozenset[str] | None, labels: dict[str, str]) -> Content:
        parts: list[Content] = []
        for mode, key, label in SECTIONS:
            if available is not None and mode not in available:
                continue
            label = labels.get(mode, label)
            # A letter key that starts its label is bolded in place ("Series"), a digit goes in front.
            text = f"[b]{key}[/b]{label[1:]}" if label.startswith(key) else f"[b]{key}[/b]{label}"
            item = Content.from_markup(text)
            style = "reverse $accent" if mode == current else ""
            parts.append(item.stylize(f"{style} @click=app.section('{mode}')".strip()))
        return Content(" ").join(parts)

    def render(self) -> Content:
        """The whole bar, or shorter names where it would not fit one line (80 columns); then who and
        where at the right when there is room."""
        width = self.size.width
        nav = self.full if width >= self.full.cell_length else self.short
        room = width - nav.cell_length - 2
        if not self.who or room < 8:
            return nav
        who = self.who if len(self.who) <= room else self.who.split(" · ")[0]  # the admin, at least
        if len(who) > room:
            return nav
        return nav + Content(" " * (width - nav.cell_length - len(who))) + Content(who)
