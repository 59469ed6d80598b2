"""Request and response bodies declared once, as pydantic v2 models: the routes parse and validate with them,
and the OpenAPI document takes their schemas from them (so the two cannot drift apart).

Validation errors keep the API's error shape, ``{"error": {"code": "invalid_input", "message", "details"}}``,
with the message naming the field and ``details.errors`` listing every problem (``field``, ``message``).
Unknown fields are ignored, as the routes always did (``path``, ``owner_id``...). Types are strict: a
number is not a string and ``"5"`` is not a number.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from kdrama_tui.errors import ValidationError

B = TypeVar("B", bound="Body")


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    # The error code for a wrong top-level field (the API's codes predate the models); else invalid_input.
    codes: ClassVar[dict[str, str]] = {}


def parse(model: type[B], data: dict[str, Any]) -> B:
    """``data`` (a JSON object) as ``model``, or a 400 naming the first field that is wrong."""
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)]
        first = problems[0]
        code = model.codes.get(first["field"].split(".", 1)[0], "invalid_input")
        raise ValidationError(f"{first['field']}: {first['message']}", code=code,
                              details={"errors": problems}) from None


def openapi_schema(model: type[Body], *, mode: Literal["validation", "serialization"] = "validation"
                   ) -> dict[str, Any]:
    """The model's JSON Schema in OpenAPI 3.0's dialect: nested models inlined, ``X | None`` as
    ``nullable``, no ``title`` noise."""
    schema = model.model_json_schema(mode=mode)
    definitions = schema.pop("$defs", {})
    return _to_openapi(schema, definitions)


def _to_openapi(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_to_openapi(n, definitions) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _to_openapi(copy.deepcopy(definitions[node["$ref"].rsplit("/", 1)[-1]]), definitions)
    node = {k: v for k, v in node.items() if k != "title"}
    if "const" in node:  # OpenAPI 3.0 has no const
        node["enum"] = [node.pop("const")]
    options = node.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        merged = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}),
                  **{k: v for k, v in node.items() if k != "anyOf"}, "nullable": True}
        if "default" in merged and merged["default"] is None:
            del merged["default"]
        return _to_openapi(merged, definitions)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":  # property names are data, not keywords ("title" may be one)
            out[key] = {name: _to_openapi(v, definitions) for name, v in value.items()}
        elif key in ("required", "enum"):
            out[key] = value
        else:
            out[key] = _to_openapi(value, definitions)
    return out


# ---- auth ---------------------------------------------------------------------------------------------
class LoginBody(Body):
    username: str | None = None
    email: str | None = None
    password: str = ""  # missing: a failed login (401) like a wrong one, not a different answer


class RefreshBody(Body):
    refresh_token: str = Field(min_length=1)


class TokenPair(Body):
    access_token: str = Field(description="EdDSA JWT, for Authorization: Bearer")
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")


# ---- chunk uploads --------------------------------------------------------------------------------------
_VIDEO_FIELDS = {"type": "object", "description": "the video's fields; unknown keys are ignored", "properties": {
    "title": {"type": "string"}, "description": {"type": "string"}, "year": {"type": "integer"},
    "genre": {"type": "string"}, "actors": {"type": "array", "items": {"type": "string"}},
    "is_public": {"type": "boolean"},
    "series": {"anyOf": [{"type": "integer"}, {"type": "string"}],
               "description": "episode of this series (id, or a title: created when new); needs episode"},
    "season": {"type": "integer", "description": "0 = specials; default 1"}, "episode": {"type": "integer"},
    "episode_end": {"type": "integer"}, "episode_title": {"type": "string"}}}


class UploadCreate(Body):
    codes: ClassVar[dict[str, str]] = {"filename": "invalid_filename", "total_size": "invalid_size",
                                       "total_chunks": "invalid_chunks", "metadata": "invalid_metadata",
                                       "sha256": "invalid_checksum"}
    filename: str = Field(min_length=1)
    total_size: int = Field(ge=1, description="bytes")
    total_chunks: int = Field(ge=1)
    sha256: str | None = Field(default=None, pattern="^[0-9a-fA-F]{64}$",
                               description="SHA-256 (hex) of the whole file, checked once it is complete")
    # The video fields are checked (and cleaned) by the library's rules, which also take e.g. actors as
    # one comma-separated string; here only "an object" is enforced.
    metadata: dict[str, Any] | None = Field(default=None, json_schema_extra=_VIDEO_FIELDS)


class FailedImportRef(Body):
    """One file the watch folders refused, as GET /api/admin/failed-imports lists it."""

    codes: ClassVar[dict[str, str]] = {"folder": "invalid_field", "id": "missing_field"}
    folder: int = Field(default=0, ge=0, description="index of the watch folder in [ingest] watch_dirs")
    id: str = Field(min_length=1, description="the file's path relative to failed/, as listed")
