"""Reading request input with clear errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kdrama_tui.errors import TooLarge, ValidationError


async def read_json(request: web.Request, max_bytes: int = 1 << 20) -> dict[str, Any]:
    """The body as a JSON object; 413 beyond ``max_bytes``, 400 for anything that is not an object."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"request body is larger than {max_bytes} bytes")
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise TooLarge(f"request body is larger than {max_bytes} bytes")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object", code="invalid_json")
    return data


def int_param(value: str | None, name: str, default: int, minimum: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"{name} must be an integer", code="invalid_parameter") from None
    if not minimum <= number <= maximum:
        raise ValidationError(f"{name} must be between {minimum} and {maximum}", code="invalid_parameter")
    return number


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the URL; anything else is a 404 (the resource cannot exist)."""
    raw = request.match_info.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound()
    return int(raw)
