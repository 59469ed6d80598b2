"""What every part of the upload service shares: statuses, errors, request parsing and small helpers."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kdrama_tui.errors import Conflict, DomainError, ValidationError
from kdrama_tui.models import Upload
from kdrama_tui.services.uploads.progress import PartKey

RECEIVING = ("pending", "uploading")  # parts are accepted
OPEN = ("pending", "uploading", "assembling")  # not finished: listed as active, bytes kept, disk reserved
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK_NUMBER = re.compile(r"^[0-9]{1,9}$")
TUS_STREAM: PartKey = "tus"
SUPERSEDE_SECONDS = 10.0  # how long a resuming tus request waits for the PATCH it supersedes to settle


class Gone(DomainError):
    code = "gone"
    status = 410


# A session that has ended keeps its row as history; a request about its bytes is told so (410).
ENDED = {"aborted": ("upload_aborted", "this upload was aborted (terminated)"),
         "expired": ("upload_expired", "this upload expired and its data was deleted")}


class ChecksumMismatch(DomainError):
    code = "checksum_mismatch"
    status = 422


@dataclass(frozen=True)
class ChunkResult:
    upload: Upload
    stored: bool  # False: the same bytes were already verified (no-op)


def parse_chunk_number(raw: str) -> int:
    """A chunk number from the URL: plain decimal digits only (``-1``, ``1e309``, ``abc`` are refused)."""
    if not raw.isascii() or not _CHUNK_NUMBER.match(raw):
        raise ValidationError(f"chunk number must be a non-negative integer (got {raw[:40]!r})",
                              code="invalid_chunk_number")
    return int(raw)


def parse_sha256(value: str | None, *, header: str = "X-Chunk-SHA256") -> str:
    if value is None or not value.strip():
        raise ValidationError(f"the {header} header is required (64 hex digits)", code="checksum_required")
    value = value.strip()
    if not _SHA256_HEX.match(value):
        raise ValidationError(f"{header} must be 64 hex digits", code="invalid_checksum")
    return value.lower()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower(), b.lower())


def chunk_conflict(number: int) -> Any:
    raise Conflict(f"chunk {number} was already received with a different checksum; the original is kept",
                   code="chunk_conflict")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def age_seconds(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
