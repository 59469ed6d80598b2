"""Accounts over HTTP: log in, refresh, log out, and who am I."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kdrama_tui.server import bodies
from kdrama_tui.server.auth import require_user
from kdrama_tui.server.client_address import client_ip
from kdrama_tui.server.keys import services
from kdrama_tui.server.openapi import describe
from kdrama_tui.server.requests import read_json

_MAX_BODY = 16 * 1024

_TOKEN_PAIR = bodies.openapi_schema(bodies.TokenPair)
_REFRESH_BODY = {"required": True, "content": {"application/json": {
    "schema": bodies.openapi_schema(bodies.RefreshBody)}}}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _tokens_response(data: dict[str, Any]) -> web.Response:
    # Tokens must never sit in a shared or browser cache (RFC 6749 section 5.1).
    return web.json_response(data, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@describe(
    security=[],
    requestBody={"required": True, "content": {"application/json": {
        "schema": bodies.openapi_schema(bodies.LoginBody)}}},
    responses={"200": {"description": "Logged in", "content": {"application/json": {"schema": _TOKEN_PAIR}}},
               "401": {"description": "Wrong username or password (the same for an unknown user)",
                       "content": {"application/json": {"schema": _ERROR}}},
               "429": {"description": "Too many failed logins for this account or address; see Retry-After",
                       "content": {"application/json": {"schema": _ERROR}}}},
)
async def login(request: web.Request) -> web.Response:
    """Log in with a username or email and a password.

    Returns an access token (a short-lived JWT for ``Authorization: Bearer``) and a refresh token.
    """
    body = bodies.parse(bodies.LoginBody, await read_json(request, _MAX_BODY))
    pair = await services(request).tokens.login(
        body.password, username=body.username, email=body.email, ip=client_ip(request),
        user_agent=request.headers.get("User-Agent"))
    return _tokens_response(pair.to_dict())


@describe(security=[], requestBody=_REFRESH_BODY,
          responses={"200": {"description": "A new token pair",
                             "content": {"application/json": {"schema": _TOKEN_PAIR}}},
                     "401": {"description": "Unknown, expired, revoked or reused refresh token",
                             "content": {"application/json": {"schema": _ERROR}}}})
async def refresh(request: web.Request) -> web.Response:
    """Exchange a refresh token for a new pair; the old refresh token stops working.

    Presenting a refresh token that was already exchanged (also by a concurrent request) revokes the whole
    session: every token descending from the same login stops working.
    """
    token = bodies.parse(bodies.RefreshBody, await read_json(request, _MAX_BODY)).refresh_token
    pair = await services(request).tokens.refresh(token, ip=client_ip(request),
                                                  user_agent=request.headers.get("User-Agent"))
    return _tokens_response(pair.to_dict())


@describe(security=[], requestBody=_REFRESH_BODY, responses={"204": {"description": "Logged out"}})
async def logout(request: web.Request) -> web.Response:
    """Log out: the refresh token and every token of its session stop working.

    Access tokens already handed out stay valid until they expire (minutes).
    """
    token = bodies.parse(bodies.RefreshBody, await read_json(request, _MAX_BODY)).refresh_token
    await services(request).tokens.logout(token)
    return web.Response(status=204)


@describe(security=[{"bearer": []}, {"apiKey": []}],
          responses={"200": {"description": "The account", "content": {"application/json": {"schema": {
              "type": "object", "properties": {
                  "id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"},
                  "role": {"type": "string", "enum": ["admin", "user"]}, "is_active": {"type": "boolean"},
                  "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                  "last_login_at": {"type": "string", "nullable": True},
                  "auth_method": {"type": "string", "enum": ["jwt", "api_key", "local"]}}}}}}})
async def me(request: web.Request) -> web.Response:
    """The caller's account (never its password hash)."""
    caller = await require_user(request)
    return web.json_response({**caller.user.public_dict(), "auth_method": caller.via})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/refresh", refresh)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/me", me)
