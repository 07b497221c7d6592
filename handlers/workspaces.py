"""Workspace events: administration (admin), members, and the widget settings (admins and member managers)."""

from __future__ import annotations

from typing import Any

from handlers.access import ADMIN, SIGNED_IN, roles
from handlers.context import EventContext
from handlers.events import EventRouter, NoPayload
from models.roles import Role
from models.widget import IdentitySecret, UpdateWidgetSettingsPayload, WidgetSettings
from models.workspaces import (
    AddMemberPayload,
    CreateWorkspacePayload,
    ListWorkspacesPayload,
    Member,
    MemberPayload,
    MyWorkspace,
    UpdateWorkspacePayload,
    Workspace,
    WorkspaceIdPayload,
    WorkspaceWithKey,
)
from services.bundle import Services

STAFF = roles(Role.ADMIN, Role.MANAGER)


def register(router: EventRouter, services: Services) -> None:
    """Declare the workspace events."""
    workspaces = services.workspaces

    @router.on("create_workspace", CreateWorkspacePayload, access=ADMIN)
    async def create_workspace(ctx: EventContext, p: CreateWorkspacePayload) -> WorkspaceWithKey:
        return await workspaces.create(ctx.require(), p)

    @router.on("rotate_workspace_key", WorkspaceIdPayload, access=ADMIN)
    async def rotate_workspace_key(ctx: EventContext, p: WorkspaceIdPayload) -> WorkspaceWithKey:
        return await workspaces.rotate_key(ctx.require(), p.workspace_id)

    @router.on("list_workspaces", ListWorkspacesPayload, access=ADMIN)
    async def list_workspaces(ctx: EventContext, p: ListWorkspacesPayload) -> dict[str, Any]:
        return await workspaces.page(p.cursor, p.limit)

    @router.on("get_workspace", WorkspaceIdPayload, access=ADMIN)
    async def get_workspace(ctx: EventContext, p: WorkspaceIdPayload) -> Workspace:
        return await workspaces.get(p.workspace_id)

    @router.on("update_workspace", UpdateWorkspacePayload, access=ADMIN)
    async def update_workspace(ctx: EventContext, p: UpdateWorkspacePayload) -> Workspace:
        return await workspaces.update(p)

    @router.on("delete_workspace", WorkspaceIdPayload, access=ADMIN)
    async def delete_workspace(ctx: EventContext, p: WorkspaceIdPayload) -> dict[str, Any]:
        return await workspaces.delete(ctx.require(), p.workspace_id)

    @router.on("add_workspace_member", AddMemberPayload, access=ADMIN)
    async def add_workspace_member(ctx: EventContext, p: AddMemberPayload) -> Member:
        return await workspaces.add_member(p.workspace_id, p.user_id, p.categories)

    @router.on("remove_workspace_member", MemberPayload, access=ADMIN)
    async def remove_workspace_member(ctx: EventContext, p: MemberPayload) -> dict[str, Any]:
        tickets = await workspaces.remove_member(p.workspace_id, p.user_id, ctx.require().user_id)
        return {
            "workspace_id": p.workspace_id,
            "user_id": p.user_id,
            "removed": True,
            "tickets": [{"ticket_id": t.id, "assignee_id": t.assignee_id} for t in tickets],
        }

    @router.on("list_workspace_members", WorkspaceIdPayload, access=STAFF)
    async def list_workspace_members(ctx: EventContext, p: WorkspaceIdPayload) -> list[Member]:
        return await workspaces.members(ctx.require(), p.workspace_id)

    @router.on("list_my_workspaces", NoPayload, access=SIGNED_IN)
    async def list_my_workspaces(ctx: EventContext, _: NoPayload) -> list[MyWorkspace]:
        return await workspaces.mine(ctx.require())

    @router.on("get_widget_settings", WorkspaceIdPayload, access=STAFF)
    async def get_widget_settings(ctx: EventContext, p: WorkspaceIdPayload) -> WidgetSettings:
        return await workspaces.widget(ctx.require(), p.workspace_id)

    @router.on("update_widget_settings", UpdateWidgetSettingsPayload, access=STAFF)
    async def update_widget_settings(ctx: EventContext, p: UpdateWidgetSettingsPayload) -> WidgetSettings:
        return await workspaces.update_widget(ctx.require(), p)

    @router.on("rotate_widget_token", WorkspaceIdPayload, access=STAFF)
    async def rotate_widget_token(ctx: EventContext, p: WorkspaceIdPayload) -> WidgetSettings:
        return await workspaces.rotate_widget_token(ctx.require(), p.workspace_id)

    @router.on("rotate_identity_secret", WorkspaceIdPayload, access=STAFF)
    async def rotate_identity_secret(ctx: EventContext, p: WorkspaceIdPayload) -> IdentitySecret:
        return await workspaces.rotate_identity_secret(ctx.require(), p.workspace_id)
