"""Messages shared by the app and its screens (past tense: they report what happened)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class Connected(Message):
    """The client reached the server with admin rights; the sections can load."""


class ConnectionFailed(Message):
    """Connecting or signing in failed; ``message`` says why (shown on the login screen)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__()
        self.message = message
        self.status = status


class ServerEventReceived(Message):
    """One event from /api/admin/events: ``{"id", "type", "ts", "data"}``."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class LogRecordReceived(Message):
    """One server log record: ``{"id", "ts", "level", "levelno", "logger", "message"}``."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        self.record = record


class StreamStateChanged(Message):
    """The live event stream connected or dropped (it reconnects by itself)."""

    def __init__(self, connected: bool, detail: str = "") -> None:
        super().__init__()
        self.connected = connected
        self.detail = detail


class ActionSucceeded(Message):
    """A change went through: ``text`` is the notification, ``result`` what the API answered."""

    def __init__(self, text: str, result: Any = None) -> None:
        super().__init__()
        self.text = text
        self.result = result
