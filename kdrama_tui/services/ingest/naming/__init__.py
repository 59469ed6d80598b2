"""Title, year, season, episode (and range, air date, special) from a dropped file's name and its folders.

``parse_path`` for a file under a watch folder, ``parse_stem`` for one name; both give a ``ParsedName``.
"""

from kdrama_tui.services.ingest.naming.parsed import ParsedName
from kdrama_tui.services.ingest.naming.paths import parse_path, parse_stem

__all__ = ["ParsedName", "parse_path", "parse_stem"]
