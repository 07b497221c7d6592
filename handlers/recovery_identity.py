"""Who a recovering socket is: a saved session goes back only to a socket proving the same identity.

The identity is the signed-in user (and role), or the widget credentials (workspace, token, visitor, identity
proof), or nobody (anonymous). At a drop it is read off the socket's session; at a reconnect it is derived from
the connect auth, checked as ``connect`` checks it (a live token, a current widget token and visitor secret), so a
leaked ``pid`` alone gets no one else's sid, rooms or missed events.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from handlers.context import Deps
from handlers.widget import is_widget_auth
from models.errors import DesklineError
from models.roles import PRINCIPAL_KEY, Principal
from models.widget import SESSION_KEY, WidgetAuth, WidgetCaller

REFUSED = "\x00refused"  # the auth proves nothing: no saved session matches it


def caller_identity(principal: Principal | None, caller: WidgetCaller | None) -> str | None:
    """Return the identity string of a signed-in principal or a widget caller (None: anonymous)."""
    if principal is not None:
        return f"user:{principal.user_id}:{principal.role.value}"
    if caller is not None:
        parts = (caller.workspace_id, caller.token_tag, caller.visitor_id or "", caller.identity_tag or "")
        return "widget:" + ":".join(parts)
    return None


def session_identity(session: dict[str, Any]) -> str | None:
    """Return the identity of a connected socket, from its Socket.IO session."""
    return caller_identity(session.get(PRINCIPAL_KEY), session.get(SESSION_KEY))


class AuthIdentity:
    """Derives the identity a connect auth proves, with the checks ``connect`` makes."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, auth: dict[str, Any], environ: dict[str, Any]) -> str | None:
        """Return the identity ``auth`` proves now (``REFUSED`` when it proves none, None when anonymous)."""
        try:
            if is_widget_auth(auth):
                parsed = WidgetAuth.model_validate(auth)
                caller = await self.deps.services.widget.authenticate(parsed, environ.get("HTTP_ORIGIN"))
                return caller_identity(None, caller)
            token = auth.get("token")
            if token is None:
                return None
            if not isinstance(token, str):
                return REFUSED
            principal, _ = await self.deps.accounts.current_session(token, self.deps.clock())
            return caller_identity(principal, None)
        except (DesklineError, ValidationError):
            return REFUSED
