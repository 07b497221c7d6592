"""Workspace administration: create, rotate the API key, list, update settings, delete (admin only)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from auth.widget_tokens import new_widget_token
from auth.workspace_keys import new_api_key
from handlers import widget_settings
from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from handlers.support import revoke_key_rooms
from handlers.widget_settings import revoke_widget_token
from models.accounts import User
from models.clock import to_millis
from models.errors import Forbidden, InvalidPayload, NotFound
from models.helpdesk import Ticket
from models.roles import Role
from models.rooms import workspace_admins_room
from models.workspaces import (
    AddMemberPayload,
    CreateWorkspacePayload,
    ListWorkspacesPayload,
    Member,
    MemberPayload,
    UpdateWorkspacePayload,
    Workspace,
    WorkspaceIdPayload,
    WorkspaceRecord,
    WorkspaceWithKey,
)
from services.accounts import public
from storage.cursor import decode_cursor, encode_cursor
from storage.database import new_id
from storage.workspaces import make_workspace_store

log = logging.getLogger("deskline.workspaces")


async def setup(deps: Deps) -> EventRouter:
    """Register the workspace administration events."""
    store = make_workspace_store(deps.db)
    await store.init()
    access = deps.services.helpdesk
    router = EventRouter(deps)

    def now() -> datetime:
        return to_millis(deps.clock())

    async def drop_member(workspace_id: str, user_id: str, actor: str) -> list[Ticket]:
        """Remove a member: their sockets leave the workspace's rooms on every instance, then their active
        tickets are handed on and pushed; return those tickets."""
        handed_on = await store.remove_member(workspace_id, user_id, now())
        await access.evict(user_id, workspace_id)  # out of its rooms first, so the pushes below miss them
        tickets = [handover.ticket for handover in handed_on]
        for ticket in tickets:
            await access.push(ticket, "assignee")
            await access.notify(ticket.assignee_id, actor, "ticket_assigned", "Ticket assigned to you", ticket)
        return tickets

    async def follow_account(user: User) -> None:
        """Keep the user's memberships equal to their account: active staff get its role in each one (then
        lose the tickets and rooms the new role hides); anyone else stops being a member anywhere."""
        if user.active and user.role in (Role.AGENT, Role.MANAGER):
            if await store.set_member_role(user.id, user.role.value):
                for member in await store.memberships(user.id):
                    await access.recheck_workspace(user.id, member.workspace_id)
            return
        for member in await store.memberships(user.id):
            try:
                await drop_member(member.workspace_id, user.id, user.id)
            except NotFound:
                continue  # removed meanwhile
            log.info("event=member_dropped workspace=%s user=%s", member.workspace_id, user.id)

    deps.account_hooks.append(follow_account)

    @router.on("create_workspace", CreateWorkspacePayload, roles=(Role.ADMIN,))
    async def create_workspace(ctx: EventContext, p: CreateWorkspacePayload) -> WorkspaceWithKey:
        now = to_millis(deps.clock())
        key, key_hash, hint = new_api_key()
        record = WorkspaceRecord(
            id=new_id(),
            name=p.name,
            products=p.products,
            auto_assign=p.auto_assign,
            key_hash=key_hash,
            key_hint=hint,
            created_at=now,
            updated_at=now,
            widget_token=new_widget_token(),
        )
        workspace = await store.create(record)
        log.info("event=create_workspace workspace=%s user=%s", workspace.id, ctx.require().user_id)
        return WorkspaceWithKey(workspace=workspace, api_key=key, widget_token=record.widget_token)

    @router.on("rotate_workspace_key", WorkspaceIdPayload, roles=(Role.ADMIN,))
    async def rotate_workspace_key(ctx: EventContext, p: WorkspaceIdPayload) -> WorkspaceWithKey:
        old = await store.find(p.workspace_id)
        key, key_hash, hint = new_api_key()
        workspace = await store.set_key(p.workspace_id, key_hash, hint, now())
        log.info("event=rotate_workspace_key workspace=%s user=%s", workspace.id, ctx.require().user_id)
        if old is not None:
            await revoke_key_rooms(deps, workspace.id, old.key_hash, "rotated")
        return WorkspaceWithKey(workspace=workspace, api_key=key)

    @router.on("list_workspaces", ListWorkspacesPayload, roles=(Role.ADMIN,))
    async def list_workspaces(ctx: EventContext, p: ListWorkspacesPayload) -> dict[str, Any]:
        after = decode_cursor(p.cursor) if p.cursor else None
        workspaces = await store.list(after, p.limit)
        cursor = encode_cursor(workspaces[-1].created_at, workspaces[-1].id) if len(workspaces) == p.limit else None
        return {"workspaces": workspaces, "next_cursor": cursor}

    @router.on("get_workspace", WorkspaceIdPayload, roles=(Role.ADMIN,))
    async def get_workspace(ctx: EventContext, p: WorkspaceIdPayload) -> Workspace:
        return await store.get(p.workspace_id)

    @router.on("update_workspace", UpdateWorkspacePayload, roles=(Role.ADMIN,))
    async def update_workspace(ctx: EventContext, p: UpdateWorkspacePayload) -> Workspace:
        return await store.update(p.workspace_id, p.name, p.products, p.auto_assign, now())

    @router.on("delete_workspace", WorkspaceIdPayload, roles=(Role.ADMIN,))
    async def delete_workspace(ctx: EventContext, p: WorkspaceIdPayload) -> dict[str, Any]:
        old = await store.find(p.workspace_id)
        members = await store.list_members(p.workspace_id)
        unassigned = await store.delete(p.workspace_id, now())
        if old is not None:
            await revoke_key_rooms(deps, p.workspace_id, old.key_hash, "deleted")
            await revoke_widget_token(deps, old, "deleted")
        for member in members:  # out of its rooms first, so the pushes below reach nobody who left
            await access.evict(member.user_id, p.workspace_id)
        await deps.sio.close_room(workspace_admins_room(p.workspace_id))  # on every instance
        for handover in unassigned:
            await access.push(handover.ticket, "assignee")
        log.info("event=delete_workspace workspace=%s user=%s", p.workspace_id, ctx.require().user_id)
        return {"workspace_id": p.workspace_id, "deleted": True}

    @router.on("add_workspace_member", AddMemberPayload, roles=(Role.ADMIN,))
    async def add_workspace_member(ctx: EventContext, p: AddMemberPayload) -> Member:
        await store.get(p.workspace_id)
        try:
            user = await deps.accounts.store.get_user(p.user_id)
        except NotFound:
            user = None
        if user is None or not user.active or user.role not in (Role.AGENT, Role.MANAGER):
            raise not_staff()
        for category_id in p.categories:
            category = await access.category(category_id)
            if category.workspace_id != p.workspace_id:
                raise NotFound("no such category in this workspace", {"category_id": category_id})
        member = Member(
            workspace_id=p.workspace_id,
            user_id=user.id,
            role=user.role.value,
            categories=p.categories,
            created_at=now(),
        )  # type: ignore[arg-type]
        stored = await store.put_member(member)
        again = await deps.accounts.store.get_user(user.id)  # changed meanwhile, its hook maybe before our write
        if not again.active or again.role != user.role:
            await follow_account(public(again))
            current = await store.get_member(p.workspace_id, user.id)
            if current is None:
                raise not_staff()
            stored = current
        await access.recheck_workspace(user.id, p.workspace_id)  # narrower categories may hide some tickets
        return stored

    @router.on("remove_workspace_member", MemberPayload, roles=(Role.ADMIN,))
    async def remove_workspace_member(ctx: EventContext, p: MemberPayload) -> dict[str, Any]:
        tickets = await drop_member(p.workspace_id, p.user_id, ctx.require().user_id)
        return {
            "workspace_id": p.workspace_id,
            "user_id": p.user_id,
            "removed": True,
            "tickets": [{"ticket_id": t.id, "assignee_id": t.assignee_id} for t in tickets],
        }

    @router.on("list_workspace_members", WorkspaceIdPayload, roles=(Role.ADMIN, Role.MANAGER))
    async def list_workspace_members(ctx: EventContext, p: WorkspaceIdPayload) -> list[Member]:
        who = ctx.require()
        await store.get(p.workspace_id)
        if who.role == Role.MANAGER and await store.get_member(p.workspace_id, who.user_id) is None:
            raise Forbidden("you are not a member of this workspace")
        return await store.list_members(p.workspace_id)

    widget_settings.register(router, deps, store)
    return router


def not_staff() -> InvalidPayload:
    """Return the error of adding a user who is not an active agent or manager."""
    return InvalidPayload(
        "only an active agent or manager account can be a workspace member",
        [{"field": "user_id", "message": "not an active agent or manager", "type": "not_staff"}],
    )
