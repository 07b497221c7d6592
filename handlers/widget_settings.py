"""Staff events for a workspace's widget: the public token, allowed origins and identity verification.

Admins, and managers who are members of the workspace, may read and change them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from auth.widget_tokens import credential_tag, new_identity_secret, new_widget_token
from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from models.clock import to_millis
from models.errors import Forbidden
from models.roles import Role
from models.rooms import widget_identity_room, widget_workspace_room
from models.widget import IdentitySecret, UpdateWidgetSettingsPayload, WidgetSettings
from models.workspaces import WorkspaceIdPayload, WorkspaceRecord
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.widget")

WIDGET_REVOKED = "widget_token_revoked"


def widget_settings(record: WorkspaceRecord) -> WidgetSettings:
    """Return what staff see of the workspace's widget (never the identity secret)."""
    return WidgetSettings(
        workspace_id=record.id,
        widget_token=record.widget_token or "",
        allowed_origins=record.widget_origins,
        identity_verification=record.identity_secret is not None,
    )


async def end_widget_room(deps: Deps, workspace_id: str, room: str, reason: str) -> None:
    """Tell the widget sockets in ``room`` their credentials died, disconnect them on every instance, empty the room.

    The room is also a presence group (``enter_widget_rooms``), which lists its sockets on every instance;
    ``sio.disconnect`` of another instance's socket goes to that instance over Redis (as ``end_sessions``).
    """
    await deps.emit(WIDGET_REVOKED, {"workspace_id": workspace_id, "reason": reason}, to=room)
    sids = {sid for sid, _ in deps.sio.manager.get_participants("/", room)}
    sids.update(await deps.services.presence.group_sockets(room))
    for sid in sorted(sids):
        await deps.sio.disconnect(sid)
    await deps.sio.close_room(room)


async def revoke_widget_token(deps: Deps, old: WorkspaceRecord, reason: str) -> None:
    """End every widget socket that connected with the workspace's previous widget token."""
    if old.widget_token is not None:
        room = widget_workspace_room(old.id, credential_tag("token", old.widget_token))
        await end_widget_room(deps, old.id, room, reason)


def register(router: EventRouter, deps: Deps, store: WorkspaceStore) -> None:
    """Register the widget settings events on the workspace domain's router."""

    def now() -> datetime:
        return to_millis(deps.clock())

    async def allowed(ctx: EventContext, workspace_id: str) -> WorkspaceRecord:
        who = ctx.require(Role.ADMIN, Role.MANAGER)
        await store.get(workspace_id)  # NotFound first
        if who.role == Role.MANAGER and await store.get_member(workspace_id, who.user_id) is None:
            raise Forbidden("you are not a member of this workspace")
        record = await store.find(workspace_id)
        assert record is not None
        if record.widget_token is None:  # written by an older instance after this one's init
            record = await store.set_widget_token(workspace_id, new_widget_token(), None)
        return record

    staff = (Role.ADMIN, Role.MANAGER)

    @router.on("get_widget_settings", WorkspaceIdPayload, roles=staff)
    async def get_widget_settings(ctx: EventContext, p: WorkspaceIdPayload) -> WidgetSettings:
        return widget_settings(await allowed(ctx, p.workspace_id))

    @router.on("update_widget_settings", UpdateWidgetSettingsPayload, roles=staff)
    async def update_widget_settings(ctx: EventContext, p: UpdateWidgetSettingsPayload) -> WidgetSettings:
        await allowed(ctx, p.workspace_id)
        record = await store.set_widget_origins(p.workspace_id, p.allowed_origins, now())
        log.info("event=update_widget_settings workspace=%s user=%s", record.id, ctx.require().user_id)
        return widget_settings(record)

    @router.on("rotate_widget_token", WorkspaceIdPayload, roles=staff)
    async def rotate_widget_token(ctx: EventContext, p: WorkspaceIdPayload) -> WidgetSettings:
        old = await allowed(ctx, p.workspace_id)
        record = await store.set_widget_token(p.workspace_id, new_widget_token(), now())
        log.info("event=rotate_widget_token workspace=%s user=%s", record.id, ctx.require().user_id)
        await revoke_widget_token(deps, old, "rotated")
        return widget_settings(record)

    @router.on("rotate_identity_secret", WorkspaceIdPayload, roles=staff)
    async def rotate_identity_secret(ctx: EventContext, p: WorkspaceIdPayload) -> IdentitySecret:
        old = await allowed(ctx, p.workspace_id)
        secret = new_identity_secret()
        await store.set_identity_secret(p.workspace_id, secret, now())
        log.info("event=rotate_identity_secret workspace=%s user=%s", old.id, ctx.require().user_id)
        if old.identity_secret is not None:
            room = widget_identity_room(old.id, credential_tag("identity", old.identity_secret))
            await end_widget_room(deps, old.id, room, "identity secret rotated")
        return IdentitySecret(workspace_id=old.id, identity_secret=secret)
