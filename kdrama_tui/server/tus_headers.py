"""tus 1.0 header parsing and formatting (https://tus.io/protocols/resumable-upload).

Only the protocol's text lives here; the uploads themselves are :class:`UploadService` sessions with
``protocol = "tus"``, stored, limited and completed exactly like chunk-API uploads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from kdrama_tui.errors import ValidationError
from kdrama_tui.models import Upload

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "creation-defer-length", "checksum", "termination",
              "expiration")
CHECKSUM_ALGORITHMS = {"sha1": 20, "sha256": 32}  # name -> digest length in bytes
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_KEY = re.compile(r"^[^\s,]+$")
_INTEGER = re.compile(r"^[0-9]{1,19}$")
_METADATA_FIELDS = ("title", "description", "year", "genre", "actors", "is_public",
                    "series", "season", "episode", "episode_end", "episode_title")  # the episode: services/series

# CORS for browser clients (tus-js-client, Uppy) on other origins: what they send and must be able to read.
CORS_ALLOW_METHODS = "POST, HEAD, PATCH, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = ("Authorization, X-API-Key, Tus-Resumable, Upload-Length, Upload-Defer-Length, Upload-Metadata, "
                      "Upload-Offset, Upload-Checksum, Upload-Concat, Content-Type, X-HTTP-Method-Override, "
                      "X-Requested-With")
CORS_EXPOSE_HEADERS = ("Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Tus-Resumable, Tus-Version, "
                       "Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Expires, Upload-Metadata, "
                       "X-Upload-Id, X-Video-Id")
CORS_MAX_AGE = "86400"  # browsers cap it lower (Chromium: 2 h); one preflight per upload URL is the aim


def cors_headers(allowed: str, origin: str | None, *, preflight: bool) -> dict[str, str]:
    """``uploads.cors_origins`` applied to one request: ``*``, or an allow-list echoing the Origin back.

    ``preflight`` (an OPTIONS with Access-Control-Request-Method) adds what the browser asks before it
    sends a non-simple request. An origin not allowed gets no CORS header, so its browser refuses.
    """
    allowed = allowed.strip()
    headers: dict[str, str] = {}
    if allowed == "*":
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Vary"] = "Origin"  # the answer depends on it: shared caches must not mix origins
        if not origin or origin not in {o.strip() for o in allowed.split(",") if o.strip()}:
            return headers
        headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
    if preflight:
        headers.update({"Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
                        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                        "Access-Control-Max-Age": CORS_MAX_AGE})
    return headers


def parse_integer_header(value: str | None, name: str) -> int:
    if value is None:
        raise ValidationError(f"the {name} header is required", code="missing_header")
    value = value.strip()
    if not _INTEGER.match(value):
        raise ValidationError(f"{name} must be a non-negative integer", code="invalid_header")
    return int(value)


def parse_defer_length(headers: Any) -> bool:
    """creation-defer-length: ``Upload-Defer-Length: 1`` instead of ``Upload-Length`` (never both)."""
    value = headers.get("Upload-Defer-Length")
    if value is None:
        return False
    if value.strip() != "1":
        raise ValidationError("Upload-Defer-Length must be 1", code="invalid_header")
    if "Upload-Length" in headers:
        raise ValidationError("send either Upload-Length or Upload-Defer-Length, not both", code="invalid_header")
    return True


def parse_metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs; the value may be absent."""
    pairs: dict[str, str] = {}
    if value is None or not value.strip():
        return pairs
    if len(value) > 16 * 1024:
        raise ValidationError("Upload-Metadata is too long", code="invalid_metadata")
    for item in value.split(","):
        parts = item.strip().split(" ")
        if not 1 <= len(parts) <= 2 or not _KEY.match(parts[0]):
            raise ValidationError("Upload-Metadata must be 'key base64value' pairs separated by commas",
                                  code="invalid_metadata")
        key = parts[0]
        if key in pairs:
            raise ValidationError(f"Upload-Metadata repeats the key {key!r}", code="invalid_metadata")
        try:
            pairs[key] = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError(f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text",
                                  code="invalid_metadata") from None
    return pairs


def creation_fields(pairs: dict[str, str]) -> dict[str, Any]:
    """Map Upload-Metadata onto the session's fields: filename, video metadata, optional whole-file sha256.

    ``name`` (what Uppy and tus-js-client send) stands in for ``filename``; other keys are ignored.
    """
    metadata: dict[str, Any] = {k: pairs[k] for k in _METADATA_FIELDS if k in pairs}
    actors = metadata.get("actors")
    if isinstance(actors, str) and actors.strip().startswith("["):
        try:
            metadata["actors"] = json.loads(actors)
        except json.JSONDecodeError:
            raise ValidationError("actors must be a JSON list or comma-separated names",
                                  code="invalid_metadata") from None
    return {
        "filename": pairs.get("filename") or pairs.get("name") or "upload",
        "metadata": metadata,
        "sha256": pairs.get("sha256") or None,
    }


def parse_checksum(value: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``."""
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ValidationError(f"unsupported checksum algorithm {algorithm[:20]!r} "
                              f"(use {', '.join(CHECKSUM_ALGORITHMS)})", code="unsupported_checksum")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise ValidationError("Upload-Checksum digest is not base64", code="invalid_checksum") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]:
        raise ValidationError(f"Upload-Checksum {algorithm} digest has the wrong length", code="invalid_checksum")
    return algorithm, digest


def encode_metadata(upload: Upload) -> str:
    """Upload-Metadata for HEAD, rebuilt from what was kept (the filename as stored, clean metadata)."""
    values: dict[str, str] = {"filename": upload.filename}
    for key, value in (upload.metadata or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, list):
            values[key] = json.dumps(value, ensure_ascii=False)
        else:
            values[key] = str(value)
    return ",".join(f"{k} {base64.b64encode(v.encode('utf-8')).decode('ascii')}" for k, v in values.items())


def http_date(value: datetime) -> str:
    """RFC 9110 date, as Upload-Expires wants it."""
    return format_datetime(value, usegmt=True)
