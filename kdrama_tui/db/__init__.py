"""Database access: one small async interface over SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from kdrama_tui.db.base import Database, Executor, Row
from kdrama_tui.db.connect import open_database

__all__ = ["Database", "Executor", "Row", "open_database"]
