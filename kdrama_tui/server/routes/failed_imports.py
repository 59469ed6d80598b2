"""What the watch folders refused (``<watch>/failed/``): list, retry, delete. Admin accounts only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kdrama_tui.errors import ValidationError
from kdrama_tui.server.auth import require_admin
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, read_json

_ADMIN = {"tags": ["admin"], "security": [{"bearer": []}, {"apiKey": []}]}
_ENTRY = {"type": "object", "required": ["folder", "id"], "properties": {
    "folder": {"type": "integer", "minimum": 0, "description": "index of the watch folder in [ingest] watch_dirs"},
    "id": {"type": "string", "description": "the file's path relative to failed/, as listed"}}}
_ERROR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ENTRY_PARAMS = [
    {"name": "folder", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "id", "in": "query", "required": True, "schema": {"type": "string"}}]


def _entry(data: dict[str, Any]) -> tuple[int, str]:
    folder, entry_id = data.get("folder", 0), data.get("id")
    if not isinstance(folder, int) or isinstance(folder, bool) or folder < 0:
        raise ValidationError("folder must be an integer >= 0", code="invalid_field", details={"field": "folder"})
    if not isinstance(entry_id, str) or not entry_id:
        raise ValidationError("id is required: the path relative to failed/", code="missing_field",
                              details={"field": "id"})
    return folder, entry_id


@describe(**_ADMIN)
async def list_failed_imports(request: web.Request) -> web.Response:
    """Files the watch folders refused, newest first: ``id`` (path under failed/), ``folder``, ``size``,
    ``reason`` (from its .error.txt), ``failed_at`` and its sidecars."""
    await require_admin(request)
    return web.json_response({"items": await services(request).failed_imports.list()})


@describe(requestBody={"required": True, "content": {"application/json": {"schema": _ENTRY}}},
          responses={"202": {"description": "Moved back into the watch folder"}, "default": _ERROR}, **_ADMIN)
async def retry_failed_import(request: web.Request) -> web.Response:
    """Move a refused file (and its sidecars) back into its watch folder, where it is imported afresh;
    409 when a file of that name is already there."""
    await require_admin(request)
    folder, entry_id = _entry(await read_json(request))
    path = await services(request).failed_imports.retry(folder, entry_id)
    return web.json_response({"id": entry_id, "folder": folder, "moved_to": path}, status=202)


@describe(parameters=_ENTRY_PARAMS, responses={"204": {"description": "Deleted"}, "default": _ERROR}, **_ADMIN)
async def delete_failed_import(request: web.Request) -> web.Response:
    """Delete a refused file with its sidecars and its .error.txt."""
    await require_admin(request)
    folder = int_param(request.query.get("folder"), "folder", 0, 0, 1000)
    _, entry_id = _entry({"folder": folder, "id": request.query.get("id")})
    await services(request).failed_imports.delete(folder, entry_id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/admin/failed-imports", list_failed_imports)
    app.router.add_post("/api/admin/failed-imports/retry", retry_failed_import)
    app.router.add_delete("/api/admin/failed-imports", delete_failed_import)
