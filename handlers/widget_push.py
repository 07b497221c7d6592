"""Pushes to widget visitors: into the room of one visitor's sockets, tagged with the current widget token."""

from __future__ import annotations

from typing import Any

from auth.widget_tokens import credential_tag
from handlers.context import Deps
from models.rooms import widget_visitor_room
from storage.workspaces import WorkspaceStore

WIDGET_MESSAGE = "widget_message"
WIDGET_TICKET_CLOSED = "widget_ticket_closed"


async def push_to_visitor(
    deps: Deps, workspaces: WorkspaceStore, workspace_id: str, visitor_id: str, event: str, data: Any
) -> None:
    """Push ``event`` to the visitor's sockets that connected with the workspace's current widget token."""
    record = await workspaces.find(workspace_id)
    if record is None or record.widget_token is None:
        return
    tag = credential_tag("token", record.widget_token)
    await deps.emit(event, data, to=widget_visitor_room(workspace_id, visitor_id, tag))
