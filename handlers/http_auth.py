"""Who calls an HTTP API route: a signed-in user (Bearer access JWT), a widget visitor (widget token + visitor
secret or verified identifier, ``handlers.widget_auth``) or a back-office holder of the workspace API key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

from handlers.context import Deps
from handlers.widget_auth import SECRET_HEADER, TOKEN_HEADER, widget_request
from models.errors import Unauthorized
from models.roles import Principal
from models.widget import Visitor
from models.workspaces import Workspace

WORKSPACE_HEADER = "X-Workspace-Id"
API_KEY_HEADER = "X-Api-Key"


@dataclass(frozen=True)
class HttpCaller:
    """Exactly one of: the signed-in principal, the widget visitor, or the workspace whose key was sent."""

    principal: Principal | None = None
    workspace: Workspace | None = None
    visitor: Visitor | None = None


async def http_caller(request: web.Request, deps: Deps) -> HttpCaller:
    """Return the caller from ``Authorization: Bearer``, the widget headers or the workspace key headers.

    Raise ``Unauthorized`` for missing or wrong credentials (a widget token without its visitor too). The stores
    and services come from ``wiring.py`` (``deps.services``); none is built per request.
    """
    workspaces = deps.services.workspaces
    visitor = await widget_request(request, deps.services.widget)
    if visitor is not None:
        return HttpCaller(visitor=visitor)
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <access token>")
        return HttpCaller(principal=await deps.accounts.current_principal(token.strip(), deps.services.clock()))
    workspace_id, api_key = request.headers.get(WORKSPACE_HEADER), request.headers.get(API_KEY_HEADER)
    if workspace_id and api_key:
        return HttpCaller(workspace=await workspaces.authenticate(workspace_id, api_key))
    raise Unauthorized(
        f"send Authorization: Bearer <access token>, or {TOKEN_HEADER} and {SECRET_HEADER} (a widget visitor), "
        f"or {WORKSPACE_HEADER} and {API_KEY_HEADER} (back office)"
    )
