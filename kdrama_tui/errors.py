"""Domain errors.

Every error a user can cause is a :class:`DomainError` with a stable snake_case ``code`` and the HTTP
status the API answers with, so handlers never translate exceptions one by one and drivers' exceptions
never leak to clients.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationError(DomainError):
    code = "invalid_input"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class UniqueViolation(Conflict):
    """A unique constraint refused the write (e.g. a username that is taken)."""

    code = "already_exists"


class ReferenceViolation(Conflict):
    """A foreign key refused the write or the delete (e.g. deleting a user who still owns videos)."""

    code = "still_referenced"


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class TooLarge(DomainError):
    code = "too_large"
    status = 413


class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InsufficientStorage(DomainError):
    code = "insufficient_storage"
    status = 507


class ConfigError(Exception):
    """A bad setting: the message is one line naming the setting and what is wrong."""


class StartupError(Exception):
    """The system could not start; the message is one line for the terminal."""
