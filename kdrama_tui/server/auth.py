"""Who is calling: resolved on demand from ``X-API-Key`` or ``Authorization: Bearer``.

Resolution is lazy (only routes that need a caller pay for the database lookup) and cached per request.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from kdrama_tui.errors import Forbidden, Unauthorized
from kdrama_tui.models import User
from kdrama_tui.server.keys import services
from kdrama_tui.services.accounts.service import Principal

_PRINCIPAL = "kdrama.principal"
LOCAL_ADMIN = User(id=0, username="local-admin", email="local@localhost", password_hash="!", role="admin")  # noqa: S106 (no password)


async def principal(request: web.Request) -> Principal | None:
    """The authenticated caller, or None for an anonymous request. Bad credentials raise 401."""
    if _PRINCIPAL in request:
        return request[_PRINCIPAL]
    svc = services(request)
    found: Principal | None = None
    api_key = request.headers.get("X-API-Key")
    authorization = request.headers.get("Authorization", "")
    if api_key:
        found = await svc.accounts.authenticate_api_key(api_key.strip())
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("use 'Authorization: Bearer <token>' or 'X-API-Key: <key>'", code="invalid_auth_header")
        if hmac.compare_digest(token.encode(), svc.local_admin_token.encode()):
            found = Principal(user=LOCAL_ADMIN, via="local")
        else:
            found = await svc.tokens.authenticate_access_token(token)
    request[_PRINCIPAL] = found
    return found


async def require_user(request: web.Request) -> Principal:
    found = await principal(request)
    if found is None:
        raise Unauthorized("authentication required", code="authentication_required")
    return found


async def require_admin(request: web.Request) -> Principal:
    found = await require_user(request)
    if not found.is_admin:
        raise Forbidden("admin rights required", code="admin_required")
    return found
