"""Placeholder translation: ``:name`` (written once) to asyncpg's ``$1, $2...``."""

from __future__ import annotations

import re
from functools import lru_cache

# A name after a single colon; '::' casts and quoted strings are left alone.
_TOKEN = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=1024)
def to_numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """Return the SQL with ``$n`` placeholders and the parameter names in order of ``n``."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKEN.sub(replace, sql), tuple(names)
