"""Every node's events on every node's bus, through PostgreSQL ``LISTEN``/``NOTIFY``.

Each web node sends what its own bus publishes to the channel ``kdrama_events`` and publishes what other
nodes sent on its own bus, with ``node`` (the sender's ``[server] node_name``) added. So a privacy change,
a delete, an edit or a new subtitle made on one node reaches every node's playback cache (which listens to
``video.*`` on its bus) within milliseconds, and the dashboard's event stream shows the whole cluster.

Not forwarded: what each node's job relay already derives from the jobs table (``job.started`` ...
``video.ready``), which would otherwise arrive twice. When the listening connection was lost and is back,
messages may have been missed: ``cluster.events_resumed`` is published locally, and the playback cache
forgets everything. On SQLite (one machine) nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from kdrama_tui.db import Database
from kdrama_tui.db.notify import MAX_PAYLOAD_BYTES
from kdrama_tui.events import Event, EventBus

log = logging.getLogger(__name__)

CHANNEL = "kdrama_events"
LISTEN_RETRY_SECONDS = 2.0
RESUMED = "cluster.events_resumed"
# Each node's job relay publishes these from the jobs table already.
_RELAYED = frozenset({"job.started", "job.progress", "job.finished", "job.failed", "job.cancelled",
                      "job.retry_scheduled", "video.ready", "video.failed"})


class ClusterEvents:
    def __init__(self, db: Database, events: EventBus, node: str) -> None:
        self.db = db
        self.events = events
        self.node = node
        self.origin = secrets.token_hex(8)  # this process, even if two nodes were given one name
        self._mine: set[int] = set()  # ids of the events this forwarder published (never sent back)
        self.stats = {"sent": 0, "received": 0}

    def _forwardable(self, event: Event) -> bool:
        return event.id not in self._mine and event.type not in _RELAYED and event.type != RESUMED

    def encode(self, event: Event) -> str:
        message: dict[str, Any] = {"origin": self.origin, "node": self.node, "type": event.type, "data": event.data}
        text = json.dumps(message, ensure_ascii=False, default=str)
        if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:  # keep what says which record changed
            message["data"] = {k: v for k, v in event.data.items() if k.endswith("_id") and isinstance(v, int)}
            message["data"]["truncated"] = True
            text = json.dumps(message)
        return text

    def received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("origin") == self.origin:
                return  # our own, back through the server
            data = {**dict(message.get("data") or {}), "node": str(message.get("node", "?"))}
            kind = str(message["type"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed message on %s", CHANNEL)
            return
        self.stats["received"] += 1
        self._remember(self.events.publish(kind, **data))

    def _remember(self, event: Event) -> None:
        if len(self._mine) > 10_000:
            self._mine = {i for i in self._mine if i > event.id - 5_000}
        self._mine.add(event.id)

    def _resumed(self) -> None:
        log.info("listening to the other nodes' events again; caches start afresh")
        self._remember(self.events.publish(RESUMED))

    async def run(self) -> None:
        """Forward this node's events and receive the others' until cancelled."""
        if self.db.dialect == "sqlite":
            return
        with self.events.subscription() as inbox:  # subscribed first: nothing published from now on is missed
            while True:
                try:
                    listener = await self.db.listen(CHANNEL, self.received, on_gap=self._resumed)
                    break
                except Exception as exc:  # the database is away at start-up: events stay local meanwhile
                    log.warning("cannot listen to the other nodes' events yet (%s); trying again", exc)
                    await asyncio.sleep(LISTEN_RETRY_SECONDS)
            try:
                while True:
                    event = await inbox.get()
                    if not self._forwardable(event):
                        continue
                    try:
                        await self.db.notify(CHANNEL, self.encode(event))
                        self.stats["sent"] += 1
                    except Exception as exc:  # the database is away: the event stays local
                        log.warning("could not send %s to the other nodes: %s", event.type, exc)
            finally:
                await listener.close()
