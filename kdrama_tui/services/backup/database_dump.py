"""Consistent copies of the live database, their checks, and putting one back.

SQLite: ``VACUUM INTO`` on a connection of its own reads one WAL snapshot while writers go on (the online
backup API restarts whenever another connection writes and may never finish under constant writes), into
a temp name that is then fsynced; ``PRAGMA integrity_check`` checks the copy. PostgreSQL: ``pg_dump`` in
custom format (one snapshot transaction), checked by listing it with ``pg_restore --list``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

from kdrama_tui.errors import DomainError

SQLITE_MEMBER = "database.sqlite"
POSTGRES_MEMBER = "database.pgdump"


class BackupError(DomainError):
    code = "backup_failed"
    status = 500


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- SQLite ------------------------------------------------------------------------------------------------

def snapshot_sqlite(db_path: Path, target: Path, busy_timeout_ms: int = 30000) -> None:
    """Write a consistent copy of ``db_path`` to ``target`` (which must not exist) and fsync it."""
    if not db_path.is_file():
        raise BackupError(f"the database file {db_path} does not exist")
    # A connection of its own, not the app's: VACUUM INTO only reads the source, in one read transaction.
    conn = sqlite3.connect(db_path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy the database {db_path}: {exc}") from exc
    finally:
        conn.close()
    _fsync(target)


def sqlite_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` of a database file: ``["ok"]`` when sound."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return [f"cannot open: {exc}"]
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()


def prepare_sqlite_copy(path: Path) -> None:
    """Make a restored copy self-contained: no WAL flag, so opening it never looks for a -wal file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    _fsync(path)


def sqlite_sidecars(db_path: Path) -> list[Path]:
    return [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


# -- PostgreSQL --------------------------------------------------------------------------------------------

def find_pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0, reverse=True)
    if candidates:
        return candidates[0]
    raise BackupError(f"{name} was not found on PATH or under /usr/lib/postgresql/*/bin; install the PostgreSQL "
                      "client (apt-get install postgresql-client)", code="backup_tool_missing")


def _pg_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (it would show in ``ps``) and an environment carrying it."""
    parts = urlparse(url)
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        netloc = (unquote(parts.username or "") and f"{parts.username}@") + host + (
            f":{parts.port}" if parts.port else "")
        url = urlunparse(parts._replace(netloc=netloc))
    return url.replace("postgres://", "postgresql://", 1), env


async def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {process.returncode}): {' / '.join(tail) or 'no message'}")
    return out.decode(errors="replace")


async def dump_postgres(url: str, target: Path) -> None:
    """``pg_dump --format=custom`` of the database at ``url`` into ``target``, fsynced."""
    dsn, env = _pg_target(url)
    await _run([find_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                f"--file={target}", f"--dbname={dsn}"], env, "pg_dump")
    await asyncio.to_thread(_fsync, target)


async def check_postgres_dump(path: Path) -> int:
    """``pg_restore --list``: the number of entries of a readable dump (raises BackupError otherwise)."""
    listing = await _run([find_pg_tool("pg_restore"), "--list", str(path)], dict(os.environ),
                         "pg_restore --list (checking the dump)")
    entries = [line for line in listing.splitlines() if line and not line.startswith(";")]
    if not entries:
        raise BackupError("the PostgreSQL dump lists no entries")
    return len(entries)


async def restore_postgres(url: str, path: Path) -> None:
    """Replace the database's objects with the dump's, in one transaction (all or nothing)."""
    dsn, env = _pg_target(url)
    await _run([find_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                "--single-transaction", "--exit-on-error", f"--dbname={dsn}", str(path)], env, "pg_restore")
