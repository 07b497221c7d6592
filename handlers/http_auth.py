"""Who calls an HTTP API route: a signed-in user (Bearer access JWT) or a workspace key holder (a widget)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

from auth.principal import Principal
from auth.workspace_keys import authenticate_workspace
from handlers.context import Deps
from models.errors import Unauthorized
from models.workspaces import Workspace
from storage.workspaces import make_workspace_store

WORKSPACE_HEADER = "X-Workspace-Id"
API_KEY_HEADER = "X-Api-Key"


@dataclass(frozen=True)
class HttpCaller:
    """Exactly one of: the signed-in principal, or the workspace whose key was sent."""

    principal: Principal | None = None
    workspace: Workspace | None = None


async def http_caller(request: web.Request, deps: Deps) -> HttpCaller:
    """Return the caller from ``Authorization: Bearer`` or the workspace key headers; raise ``Unauthorized``."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <access token>")
        return HttpCaller(principal=await deps.accounts.current_principal(token.strip(), deps.clock()))
    workspace_id, api_key = request.headers.get(WORKSPACE_HEADER), request.headers.get(API_KEY_HEADER)
    if workspace_id and api_key:
        return HttpCaller(workspace=await authenticate_workspace(make_workspace_store(deps.db), workspace_id, api_key))
    raise Unauthorized(f"send Authorization: Bearer <access token>, or {WORKSPACE_HEADER} and {API_KEY_HEADER}")
