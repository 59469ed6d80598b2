"""What the watch folders refused (``<watch>/failed/``): list, retry, delete. Admin accounts only."""

from __future__ import annotations

from aiohttp import web

from kdrama_tui.server import bodies
from kdrama_tui.server.auth import require_admin
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import int_param, read_json

_ADMIN = {"tags": ["admin"], "security": [{"bearer": []}, {"apiKey": []}]}
_ERROR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ENTRY_PARAMS = [
    {"name": "folder", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "id", "in": "query", "required": True, "schema": {"type": "string"}}]


@describe(**_ADMIN)
async def list_failed_imports(request: web.Request) -> web.Response:
    """Files the watch folders refused, newest first: ``id`` (path under failed/), ``folder``, ``size``,
    ``reason`` (from its .error.txt), ``failed_at`` and its sidecars."""
    await require_admin(request)
    return web.json_response({"items": await services(request).failed_imports.list()})


@describe(requestBody={"required": True, "content": {"application/json": {
    "schema": bodies.openapi_schema(bodies.FailedImportRef)}}},
          responses={"202": {"description": "Moved back into the watch folder"}, "default": _ERROR}, **_ADMIN)
async def retry_failed_import(request: web.Request) -> web.Response:
    """Move a refused file (and its sidecars) back into its watch folder, where it is imported afresh;
    409 when a file of that name is already there."""
    await require_admin(request)
    ref = bodies.parse(bodies.FailedImportRef, await read_json(request))
    path = await services(request).failed_imports.retry(ref.folder, ref.id)
    return web.json_response({"id": ref.id, "folder": ref.folder, "moved_to": path}, status=202)


@describe(parameters=_ENTRY_PARAMS, responses={"204": {"description": "Deleted"}, "default": _ERROR}, **_ADMIN)
async def delete_failed_import(request: web.Request) -> web.Response:
    """Delete a refused file with its sidecars and its .error.txt."""
    await require_admin(request)
    folder = int_param(request.query.get("folder"), "folder", 0, 0, 1000)
    ref = bodies.parse(bodies.FailedImportRef, {"folder": folder, "id": request.query.get("id")})
    await services(request).failed_imports.delete(ref.folder, ref.id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/admin/failed-imports", list_failed_imports)
    app.router.add_post("/api/admin/failed-imports/retry", retry_failed_import)
    app.router.add_delete("/api/admin/failed-imports", delete_failed_import)
