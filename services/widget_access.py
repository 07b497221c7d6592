"""Who a widget caller is: the public token, the page's origin and the visitor's credentials, checked at connect
and again on every event (a rotated token or identity secret ends the socket's rights)."""

from __future__ import annotations

from typing import Any

from auth.widget_tokens import credential_tag, hash_secret, identifier_verified, same_token
from models.errors import Forbidden, Unauthorized
from models.widget import SESSION_KEY, WidgetAuth, WidgetCaller
from models.workspaces import WorkspaceRecord
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

INVALID_TOKEN = "Invalid widget token"
NO_VISITOR = "open a conversation first, or connect with your visitor_secret"
VISITOR_PREFIX = "visitor-"


async def authenticate_widget(
    workspaces: WorkspaceStore, visitors: VisitorStore, auth: WidgetAuth, origin: str | None
) -> WidgetCaller:
    """Check the token, the page's origin and the visitor credentials; raise ``Unauthorized``/``Forbidden``."""
    record = await workspaces.find_by_widget_token(auth.widget_token)
    if record is None or not same_token(record.widget_token, auth.widget_token):
        raise Unauthorized(INVALID_TOKEN)
    if record.widget_origins and (origin or "").rstrip("/").lower() not in record.widget_origins:
        raise Forbidden("this site may not embed the widget", {"origin": origin})
    caller = WidgetCaller(workspace_id=record.id, token_tag=credential_tag("token", auth.widget_token))
    if auth.identifier is not None or auth.identifier_hash is not None:
        if auth.identifier is None or auth.identifier_hash is None:
            raise Unauthorized("send both identifier and identifier_hash")
        if not identifier_verified(record.identity_secret, auth.identifier, auth.identifier_hash):
            raise Unauthorized("identifier_hash does not verify this identifier")
        assert record.identity_secret is not None
        caller.identifier = auth.identifier
        caller.identity_tag = credential_tag("identity", record.identity_secret)
        found = await visitors.find_by_identifier(record.id, auth.identifier)
        caller.visitor_id = found.id if found else None
    elif auth.visitor_secret is not None:
        visitor = await visitors.find_by_secret(record.id, hash_secret(auth.visitor_secret))
        if visitor is None:
            raise Unauthorized("Invalid visitor secret")
        caller.visitor_id = visitor.id
    return caller


async def still_valid(workspaces: WorkspaceStore, caller: WidgetCaller) -> WorkspaceRecord:
    """Return the caller's workspace if its token (and identity secret) are still current; else ``Unauthorized``."""
    record = await workspaces.find(caller.workspace_id)
    if (
        record is None
        or record.widget_token is None
        or credential_tag("token", record.widget_token) != caller.token_tag
    ):
        raise Unauthorized("the widget token was rotated or the workspace deleted; reconnect with the new token")
    if caller.identity_tag is not None and (
        record.identity_secret is None or credential_tag("identity", record.identity_secret) != caller.identity_tag
    ):
        raise Unauthorized("the identity secret was rotated; reconnect with a new identifier_hash")
    return record


async def session_visitor(workspaces: WorkspaceStore, session: dict[str, Any]) -> WidgetCaller | None:
    """Return the visitor of a widget socket's session; None for a socket that did not connect as a widget.

    ``Unauthorized`` when its token was rotated (or workspace deleted) or it has no visitor yet (token alone).
    """
    caller: WidgetCaller | None = session.get(SESSION_KEY)
    if caller is None:
        return None
    await still_valid(workspaces, caller)
    if caller.visitor_id is None:
        raise Unauthorized(NO_VISITOR)
    return caller
