"""GET /api/turn: time-limited TURN credentials (the TURN REST API scheme) and the ICE server list."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from aiohttp import hdrs, web

from config import Settings
from handlers.context import DEPS_KEY, Deps
from handlers.http_auth import http_caller
from models.errors import DesklineError, ErrorCode, NotFound

PATH = "/api/turn"
TURN_STATUS = {ErrorCode.NOT_FOUND: 404, ErrorCode.UNAUTHORIZED: 401, ErrorCode.FORBIDDEN: 403}


def add_routes(app: web.Application) -> None:
    """Serve ``GET /api/turn`` (CORS comes from handlers/cors.py)."""
    app.router.add_get(PATH, turn)


def split_uris(text: str) -> list[str]:
    """Return the URIs of a comma-separated setting."""
    return [uri.strip() for uri in text.split(",") if uri.strip()]


def turn_credentials(secret: str, user_id: str, now: datetime, ttl_seconds: int) -> tuple[str, str]:
    """Return (username, credential): ``<expiry unix time>:<user>`` and base64(HMAC-SHA1(secret, username))."""
    username = f"{int(now.timestamp()) + ttl_seconds}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_config(settings: Settings, user_id: str, now: datetime) -> dict[str, Any]:
    """Return the credentials and the RTCIceServer list a browser passes to RTCPeerConnection."""
    uris = split_uris(settings.turn_uris)
    if not settings.turn_secret or not uris:
        raise NotFound("TURN is not configured on this server (set DESKLINE_TURN_SECRET and DESKLINE_TURN_URIS)")
    username, credential = turn_credentials(settings.turn_secret, user_id, now, settings.turn_ttl_seconds)
    servers: list[dict[str, Any]] = [{"urls": uri} for uri in split_uris(settings.stun_uris)]
    servers.append({"urls": uris, "username": username, "credential": credential})
    return {
        "username": username,
        "credential": credential,
        "ttl": settings.turn_ttl_seconds,
        "uris": uris,
        "ice_servers": servers,
    }


async def turn_user(request: web.Request, deps: Deps) -> str:
    """Return the TURN user: the signed-in user's id (Bearer JWT), the widget visitor's id (``visitor-...``), or
    ``visitor-<workspace id>`` (the back-office workspace key)."""
    caller = await http_caller(request, deps)
    if caller.principal is not None:
        return caller.principal.user_id
    if caller.visitor is not None:
        return caller.visitor.id
    assert caller.workspace is not None
    return f"visitor-{caller.workspace.id}"


async def turn(request: web.Request) -> web.Response:
    """Answer with fresh TURN credentials for a signed-in user, a widget visitor, or a workspace key holder."""
    deps = request.app[DEPS_KEY]
    try:
        user = await turn_user(request, deps)
        body = ice_config(deps.settings, user, deps.clock())
    except DesklineError as err:
        status = TURN_STATUS.get(err.code, 400)
        return web.json_response({"ok": False, "error": err.to_error()}, status=status)
    return web.json_response(body, headers={hdrs.CACHE_CONTROL: "no-store"})
