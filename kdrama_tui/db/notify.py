"""Messages between the processes sharing a database: PostgreSQL ``LISTEN``/``NOTIFY``.

A :class:`Listener` holds a connection of its own (LISTEN needs a session, so not a pooled one, and not
through PgBouncer in transaction mode: ``[database] session_url``) and calls back for every message on its
channel. When the connection drops it reconnects, and calls ``on_gap`` once listening again: messages sent
meanwhile are lost, so the caller must assume anything changed. On SQLite (one machine) it is a no-op.
"""

from __future__ import annotations

MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more


class Listener:
    """A subscription; the base class listens to nothing (single-machine databases)."""

    async def close(self) -> None:
        return None
