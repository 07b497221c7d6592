"""Workspace use cases: tenants, their API key, their staff members and their widget settings."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from auth.workspace_keys import INVALID_API_KEY, key_matches, new_api_key, room_tag
from models.accounts import User
from models.clock import Clock
from models.errors import Forbidden, InvalidPayload, NotFound, Unauthorized
from models.notify import Kind
from models.roles import Principal, Role
from models.rooms import (
    support_ticket_room,
    support_workspace_room,
    workspace_admins_room,
)
from models.tickets import Ticket
from models.widget import new_widget_token
from models.workspaces import (
    WORKSPACE_KEY_REVOKED,
    CreateWorkspacePayload,
    Member,
    MyWorkspace,
    UpdateWorkspacePayload,
    Workspace,
    WorkspaceKeyRevoked,
    WorkspaceRecord,
    WorkspaceWithKey,
)
from services.accounts import AccountService, public
from services.emitter import Emitter
from services.sockets import Sockets
from services.widget_settings import WidgetSettingsCases
from storage.categories import CategoryStore
from storage.cursor import decode_cursor, encode_cursor
from storage.database import new_id
from storage.tickets import TicketStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.workspaces")

MEMBER_ROLES = (Role.AGENT, Role.MANAGER)


class TicketSide(Protocol):
    """What membership changes need from the tickets (``HelpdeskAccess`` today, ``services.helpdesk`` next)."""

    async def evict(self, user_id: str, workspace_id: str) -> None:
        """Take a former member's sockets out of the workspace's rooms and its tickets' rooms."""
        ...

    async def push(self, ticket: Ticket, change: str, *also: str | None) -> None:
        """Push ``ticket_updated`` to who may see the ticket."""
        ...

    async def notify(self, user_id: str | None, actor: str, kind: str, title: str, ticket: Ticket) -> None:
        """Notify ``user_id`` about the ticket unless they did it themselves or may no longer see it."""
        ...

    async def recheck_workspace(self, user_id: str, workspace_id: str) -> None:
        """Recheck the user's access to every ticket of the workspace."""
        ...


async def authenticate_workspace(store: WorkspaceStore, workspace_id: str, api_key: str) -> Workspace:
    """Return the workspace when ``api_key`` is its current key, else raise ``Unauthorized`` (constant time)."""
    record = await store.find(workspace_id)
    if not key_matches(record.key_hash if record is not None else None, api_key) or record is None:
        raise Unauthorized(INVALID_API_KEY)
    return Workspace.model_validate(record.model_dump(exclude={"key_hash"}))


def not_staff() -> InvalidPayload:
    """Return the error of adding a user who is not an active agent or manager."""
    return InvalidPayload(
        "only an active agent or manager account can be a workspace member",
        [{"field": "user_id", "message": "not an active agent or manager", "type": "not_staff"}],
    )


class WorkspaceService(WidgetSettingsCases):
    """Workspaces over a ``WorkspaceStore`` (built once, in ``wiring.py``); ``helpdesk`` is the tickets' side."""

    def __init__(
        self,
        store: WorkspaceStore,
        categories: CategoryStore,
        ticket_store: TicketStore,
        accounts: AccountService,
        emitter: Emitter,
        sockets: Sockets,
        clock: Clock,
        helpdesk: TicketSide | None = None,
    ) -> None:
        self.store = store
        self.categories = categories
        self.ticket_store = ticket_store
        self.accounts = accounts
        self.emitter = emitter
        self.sockets = sockets
        self.clock = clock
        self.helpdesk = helpdesk  # connected in wiring.py (it is built over Deps until the ticket slice lands)

    @property
    def tickets(self) -> TicketSide:
        """The tickets' side, connected by ``wiring.py``."""
        assert self.helpdesk is not None, "wiring.py connects the workspaces' helpdesk"
        return self.helpdesk

    async def authenticate(self, workspace_id: str, api_key: str) -> Workspace:
        """Return the workspace when ``api_key`` is its current key, else raise ``Unauthorized``."""
        return await authenticate_workspace(self.store, workspace_id, api_key)

    # Workspaces (admin)

    async def create(self, who: Principal, p: CreateWorkspacePayload) -> WorkspaceWithKey:
        """Create a workspace; the answer is the only time its API key is shown."""
        now = self.clock()
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
        workspace = await self.store.create(record)
        log.info("event=create_workspace workspace=%s user=%s", workspace.id, who.user_id)
        return WorkspaceWithKey(workspace=workspace, api_key=key, widget_token=record.widget_token)

    async def rotate_key(self, who: Principal, workspace_id: str) -> WorkspaceWithKey:
        """Give the workspace a new API key; the sockets that joined with the old one are told and dropped."""
        old = await self.store.find(workspace_id)
        key, key_hash, hint = new_api_key()
        workspace = await self.store.set_key(workspace_id, key_hash, hint, self.clock())
        log.info("event=rotate_workspace_key workspace=%s user=%s", workspace.id, who.user_id)
        if old is not None:
            await self.revoke_key_rooms(workspace.id, old.key_hash, "rotated")
        return WorkspaceWithKey(workspace=workspace, api_key=key)

    async def page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        """Return a page of workspaces in creation order, with the next page's cursor."""
        after = decode_cursor(cursor) if cursor else None
        workspaces = await self.store.list(after, limit)
        following = encode_cursor(workspaces[-1].created_at, workspaces[-1].id) if len(workspaces) == limit else None
        return {"workspaces": workspaces, "next_cursor": following}

    async def mine(self, who: Principal) -> list[MyWorkspace]:
        """Return the workspaces the caller is a member of, with each membership (empty for a non-member)."""
        found = [(await self.store.find(m.workspace_id), m) for m in await self.store.memberships(who.user_id)]
        return [MyWorkspace(workspace=Workspace.model_validate(w.model_dump()), member=m) for w, m in found if w]

    async def get(self, workspace_id: str) -> Workspace:
        """Return the workspace (``NotFound``)."""
        return await self.store.get(workspace_id)

    async def update(self, p: UpdateWorkspacePayload) -> Workspace:
        """Change the workspace's name or settings."""
        return await self.store.update(p.workspace_id, p.name, p.products, p.auto_assign, self.clock())

    async def delete(self, who: Principal, workspace_id: str) -> dict[str, Any]:
        """Delete the workspace: its credentials die, its members leave its rooms, its tickets are unassigned."""
        old = await self.store.find(workspace_id)
        members = await self.store.list_members(workspace_id)
        unassigned = await self.store.delete(workspace_id, self.clock())
        if old is not None:
            await self.revoke_key_rooms(workspace_id, old.key_hash, "deleted")
            await self.revoke_widget_token(old, "deleted")
        for member in members:  # out of its rooms first, so the pushes below reach nobody who left
            await self.tickets.evict(member.user_id, workspace_id)
        await self.sockets.close_room(workspace_admins_room(workspace_id))  # on every instance
        for handover in unassigned:
            await self.tickets.push(handover.ticket, "assignee")
        log.info("event=delete_workspace workspace=%s user=%s", workspace_id, who.user_id)
        return {"workspace_id": workspace_id, "deleted": True}

    async def revoke_key_rooms(self, workspace_id: str, key_hash: str, reason: str) -> None:
        """Tell the sockets in the support rooms joined with a dead key, then empty those rooms (every instance)."""
        tag = room_tag(key_hash)
        ticket_ids = await self.ticket_store.line_ticket_ids(workspace_id)
        rooms = [support_workspace_room(workspace_id, tag), *(support_ticket_room(t, tag) for t in ticket_ids)]
        await self.emitter.push(
            WORKSPACE_KEY_REVOKED, WorkspaceKeyRevoked(workspace_id=workspace_id, reason=reason), to=rooms
        )
        for room in rooms:
            await self.sockets.close_room(room)

    # Members

    async def require_staff_of(self, who: Principal, workspace_id: str) -> None:
        """Raise ``NotFound`` for no such workspace, ``Forbidden`` for a manager who is not its member."""
        await self.store.get(workspace_id)
        if who.role == Role.MANAGER and await self.store.get_member(workspace_id, who.user_id) is None:
            raise Forbidden("you are not a member of this workspace")

    async def members(self, who: Principal, workspace_id: str) -> list[Member]:
        """Return the workspace's members (admins, and managers who are members)."""
        await self.require_staff_of(who, workspace_id)
        return await self.store.list_members(workspace_id)

    async def add_member(self, workspace_id: str, user_id: str, categories: list[str]) -> Member:
        """Add or update an active agent or manager as a member, limited to ``categories`` (empty: all)."""
        await self.store.get(workspace_id)
        try:
            user = await self.accounts.store.get_user(user_id)
        except NotFound:
            user = None
        if user is None or not user.active or user.role not in MEMBER_ROLES:
            raise not_staff()
        for category_id in categories:
            category = await self.categories.get(category_id)
            if category.workspace_id != workspace_id:
                raise NotFound("no such category in this workspace", {"category_id": category_id})
        member = Member(
            workspace_id=workspace_id,
            user_id=user.id,
            role=user.role.value,  # type: ignore[arg-type]
            categories=categories,
            created_at=self.clock(),
        )
        stored = await self.store.put_member(member)
        again = await self.accounts.store.get_user(user.id)  # changed meanwhile, its hook maybe before our write
        if not again.active or again.role != user.role:
            await self.follow_account(public(again))
            current = await self.store.get_member(workspace_id, user.id)
            if current is None:
                raise not_staff()
            stored = current
        await self.tickets.recheck_workspace(user.id, workspace_id)  # narrower categories may hide some tickets
        return stored

    async def remove_member(self, workspace_id: str, user_id: str, actor: str) -> list[Ticket]:
        """Remove a member: their sockets leave the workspace's rooms on every instance, then their active
        tickets are handed on and pushed; return those tickets."""
        handed_on = await self.store.remove_member(workspace_id, user_id, self.clock())
        await self.tickets.evict(user_id, workspace_id)  # out of its rooms first, so the pushes below miss them
        tickets = [handover.ticket for handover in handed_on]
        for ticket in tickets:
            await self.tickets.push(ticket, "assignee")
            await self.tickets.notify(ticket.assignee_id, actor, Kind.TICKET_ASSIGNED, "Ticket assigned to you", ticket)
        return tickets

    async def follow_account(self, user: User) -> None:
        """Account hook: keep the user's memberships equal to their account. Active staff get its role in each one
        (then lose the tickets and rooms the new role hides); anyone else stops being a member anywhere."""
        if user.active and user.role in MEMBER_ROLES:
            if await self.store.set_member_role(user.id, user.role.value):
                for member in await self.store.memberships(user.id):
                    await self.tickets.recheck_workspace(user.id, member.workspace_id)
            return
        for member in await self.store.memberships(user.id):
            try:
                await self.remove_member(member.workspace_id, user.id, user.id)
            except NotFound:
                continue  # removed meanwhile
            log.info("event=member_dropped workspace=%s user=%s", member.workspace_id, user.id)
