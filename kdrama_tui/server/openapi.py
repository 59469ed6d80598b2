"""An OpenAPI 3 document built from the routes that exist, so it can never list a route that is gone.

Each handler's docstring gives the summary (first line) and description; handlers may add request and
response schemas with :func:`describe`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kdrama_tui import __version__

_DOC_ATTR = "__openapi__"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def describe(**operation: Any) -> Callable[[Any], Any]:
    """Attach OpenAPI operation fields (requestBody, responses, security, tags) to a handler."""

    def wrap(handler: Any) -> Any:
        setattr(handler, _DOC_ATTR, operation)
        return handler

    return wrap


def build_openapi(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for route in app.router.routes():
        method = route.method.lower()
        if method in ("head", "*") or route.resource is None:
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter") or (info.get("prefix", "") + "/{filename}")
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
        handler = route.handler
        doc = inspect.getdoc(handler) or ""
        summary, _, description = doc.partition("\n")
        operation: dict[str, Any] = {
            "summary": summary.strip() or f"{method.upper()} {path}",
            "operationId": _operation_id(method, path, operation_ids),
            "tags": [_tag(path)],
            "responses": {"200": {"description": "OK"},
                          "default": {"description": "Error", "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"}}}}},
        }
        if description.strip():
            operation["description"] = description.strip()
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _PARAM.findall(path)]
        if params:
            operation["parameters"] = params
        operation.update(getattr(handler, _DOC_ATTR, {}))
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "kdrama-tui", "version": __version__,
                 "description": "Self-hosted K-drama streaming: uploads, catalog, HLS, admin."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
        "security": [{}, {"bearer": []}, {"apiKey": []}],
    }


def _operation_id(method: str, path: str, taken: set[str]) -> str:
    """``method_path_words``, unique in the document as OpenAPI requires: ``/api/tus`` and ``/api/tus/``
    are two paths, so the one with the trailing slash says so."""
    base = f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}"
    if path.endswith("/") and len(path) > 1:
        base += "_slash"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[:1] == ["api"]:
        parts = parts[1:]
    return parts[0] if parts else "pages"
