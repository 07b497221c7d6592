"""Widget settings of a workspace (admins, and managers who are members): origins, looks, token and identity secret.

``WorkspaceService`` holds these use cases; they live here to keep each module small.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from auth.widget_tokens import credential_tag, new_identity_secret
from models.roles import Principal
from models.rooms import widget_identity_room, widget_workspace_room
from models.widget import DEFAULT_COLOR, IdentitySecret, UpdateWidgetSettingsPayload, WidgetSettings, new_widget_token
from models.workspaces import WIDGET_TOKEN_REVOKED, WidgetTokenRevoked, WorkspaceRecord

if TYPE_CHECKING:
    from models.clock import Clock
    from services.emitter import Emitter
    from services.sockets import Sockets
    from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.workspaces")


def widget_settings(record: WorkspaceRecord) -> WidgetSettings:
    """Return what staff see of the workspace's widget (never the identity secret)."""
    return WidgetSettings(
        workspace_id=record.id,
        widget_token=record.widget_token or "",
        allowed_origins=record.widget_origins,
        identity_verification=record.identity_secret is not None,
        color=record.widget_color or DEFAULT_COLOR,
        title=record.widget_title,
    )


class WidgetSettingsCases:
    """The widget-settings use cases of ``WorkspaceService`` (which provides the store, clock, emitter, sockets)."""

    store: WorkspaceStore
    clock: Clock
    emitter: Emitter
    sockets: Sockets

    require_staff_of: Callable[[Principal, str], Awaitable[None]]  # WorkspaceService: admin or staff member

    async def widget_record(self, who: Principal, workspace_id: str) -> WorkspaceRecord:
        """Return the stored workspace for a staff caller allowed to manage its widget."""
        await self.require_staff_of(who, workspace_id)
        record = await self.store.find(workspace_id)
        assert record is not None
        if record.widget_token is None:  # written by an older instance after this one's init
            record = await self.store.set_widget_token(workspace_id, new_widget_token(), None)
        return record

    async def widget(self, who: Principal, workspace_id: str) -> WidgetSettings:
        """Return the workspace's widget settings."""
        return widget_settings(await self.widget_record(who, workspace_id))

    async def update_widget(self, who: Principal, p: UpdateWidgetSettingsPayload) -> WidgetSettings:
        """Set the site origins allowed to embed the widget (empty: any) and its looks; fields left out are kept."""
        workspace_id = p.workspace_id
        record = await self.widget_record(who, workspace_id)
        if p.allowed_origins is not None:
            record = await self.store.set_widget_origins(workspace_id, p.allowed_origins, self.clock())
        if p.color is not None or p.title is not None:
            color = p.color if p.color is not None else record.widget_color
            title = (p.title or None) if p.title is not None else record.widget_title
            record = await self.store.set_widget_appearance(workspace_id, color, title, self.clock())
        log.info("event=update_widget_settings workspace=%s user=%s", record.id, who.user_id)
        return widget_settings(record)

    async def rotate_widget_token(self, who: Principal, workspace_id: str) -> WidgetSettings:
        """Give the widget a new public token; the sockets connected with the old one are told and disconnected."""
        old = await self.widget_record(who, workspace_id)
        record = await self.store.set_widget_token(workspace_id, new_widget_token(), self.clock())
        log.info("event=rotate_widget_token workspace=%s user=%s", record.id, who.user_id)
        await self.revoke_widget_token(old, "rotated")
        return widget_settings(record)

    async def rotate_identity_secret(self, who: Principal, workspace_id: str) -> IdentitySecret:
        """Turn identity verification on with a new secret; visitors verified with the old one are disconnected."""
        old = await self.widget_record(who, workspace_id)
        secret = new_identity_secret()
        await self.store.set_identity_secret(workspace_id, secret, self.clock())
        log.info("event=rotate_identity_secret workspace=%s user=%s", old.id, who.user_id)
        if old.identity_secret is not None:
            room = widget_identity_room(old.id, credential_tag("identity", old.identity_secret))
            await self.end_widget_room(old.id, room, "identity secret rotated")
        return IdentitySecret(workspace_id=old.id, identity_secret=secret)

    async def revoke_widget_token(self, old: WorkspaceRecord, reason: str) -> None:
        """End every widget socket that connected with the workspace's previous widget token."""
        if old.widget_token is not None:
            room = widget_workspace_room(old.id, credential_tag("token", old.widget_token))
            await self.end_widget_room(old.id, room, reason)

    async def end_widget_room(self, workspace_id: str, room: str, reason: str) -> None:
        """Tell the widget sockets in ``room`` their credentials died, then disconnect them on every instance."""
        await self.emitter.push(
            WIDGET_TOKEN_REVOKED, WidgetTokenRevoked(workspace_id=workspace_id, reason=reason), to=room
        )
        await self.sockets.end_room(room)
