"""GET /api/turn: time-limited TURN credentials and the ICE server list (``services.turn``)."""

from __future__ import annotations

from aiohttp import hdrs, web

from handlers.context import DEPS_KEY, Deps
from handlers.http import add_api_route
from handlers.http_auth import http_caller

PATH = "/api/turn"


def add_routes(app: web.Application) -> None:
    """Serve ``GET /api/turn`` (CORS comes from handlers/cors.py)."""
    add_api_route(app, hdrs.METH_GET, PATH, turn)


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
    body = deps.services.turn.ice_config(await turn_user(request, deps))
    return web.json_response(body, headers={hdrs.CACHE_CONTROL: "no-store"})
