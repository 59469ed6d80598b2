"""The interface both database backends implement.

SQL is written once, with ``:name`` placeholders and a dict of parameters; each backend binds them as
prepared-statement parameters (never by formatting values into the text). Rows come back as plain dicts;
repositories turn them into dataclasses. Python values go in as they are: ``datetime`` (aware, UTC),
``bool``, and ``dict``/``list`` for JSON columns; each backend maps them to its column types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from kdrama_tui.db.locks import ClusterLock, LocalLock
from kdrama_tui.db.notify import Listener

Row = dict[str, Any]
Params = Mapping[str, Any] | None


class Executor(ABC):
    """Runs statements: a whole database (each call autocommits) or one open transaction."""

    dialect: str  # "sqlite" or "postgresql"

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]: ...

    @abstractmethod
    async def fetch_one(self, sql: str, params: Params = None) -> Row | None: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement; returns the number of rows it changed."""

    @abstractmethod
    async def execute_many(self, sql: str, params: list[Mapping[str, Any]]) -> None: ...

    @abstractmethod
    async def execute_script(self, script: str) -> None:
        """Run several DDL statements (migrations); no parameters, no placeholder translation."""

    async def fetch_value(self, sql: str, params: Params = None) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()))



class Database(Executor):
    url: str

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """``async with db.transaction() as tx``: all or nothing; writers are serialised on SQLite."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def health(self) -> None:
        """Raise if the database cannot answer a trivial query."""

    @abstractmethod
    def iterate(self, sql: str, params: Params = None, batch: int = 500) -> AsyncIterator[Row]:
        """Stream a large result without loading it all (storage migration, backups)."""

    @property
    def reads(self) -> Executor:
        """Where reads that may trail the latest write by a moment go (catalog, series, playback lookups):
        a streaming replica when ``[database] read_url`` names one and it keeps up, else this database."""
        return self

    def hold_primary(self) -> None:
        """Something readers must see at once just changed: keep :attr:`reads` on the primary until any
        replica has caught up with it."""

    async def try_lock(self, name: str) -> ClusterLock | None:
        """The cluster-wide lock ``name`` if no other process holds it, else None (see ``db/locks.py``)."""
        return LocalLock(name)

    async def listen(self, channel: str, callback: Callable[[str], None],
                     on_gap: Callable[[], None] | None = None) -> Listener:
        """Call ``callback(payload)`` for each message :meth:`notify` sends on ``channel`` from any process
        sharing the database; a no-op on a single-machine database (see ``db/notify.py``)."""
        return Listener()

    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every listener of ``channel`` (after this statement commits)."""
        return None
