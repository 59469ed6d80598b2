"""Open the database a URL names and bring its schema up to date."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from kdrama_tui.db.base import Database
from kdrama_tui.db.migrate import apply_migrations
from kdrama_tui.errors import ConfigError


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/x.db`` -> ``relative/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
    if not path:
        raise ConfigError(f"database.url: cannot find a file path in {url!r} (use sqlite:///path/to.db)")
    return Path(path)


async def open_database(url: str, *, migrate: bool = True, synchronous: str = "FULL",
                        busy_timeout_ms: int = 10000, pool_size: int = 10, check: bool = True,
                        statement_cache_size: int = 100, application_name: str = "",
                        session_url: str = "", read_url: str = "",
                        replica_max_lag_seconds: float = 2.0) -> Database:
    """``application_name``, ``session_url`` (for locks and LISTEN, see ``[database] session_url``) and
    ``read_url`` (a streaming replica, see ``db/replica.py``) apply to PostgreSQL only."""
    scheme = urlparse(url).scheme
    db: Database
    if read_url and scheme == "sqlite":
        raise ConfigError("database.read_url: a read replica needs a PostgreSQL database.url")
    if scheme == "sqlite":
        from kdrama_tui.db.sqlite import SQLiteDatabase

        db = await SQLiteDatabase(url, sqlite_path(url), synchronous, busy_timeout_ms).open(check=check)
    elif scheme in ("postgresql", "postgres"):
        from kdrama_tui.db.postgres import PostgresDatabase

        db = await PostgresDatabase(url, pool_size, statement_cache_size=statement_cache_size,
                                    application_name=application_name, session_url=session_url,
                                    read_url=read_url, replica_max_lag_seconds=replica_max_lag_seconds).open()
    else:
        raise ConfigError(f"database.url: unsupported scheme {scheme!r} (use sqlite:// or postgresql://)")
    if migrate:
        try:
            await apply_migrations(db)
        except BaseException:
            await db.close()
            raise
    return db
