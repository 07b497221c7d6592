"""Who may see which tickets and how ticket changes reach them: the signed-in helpdesk's access rules and rooms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from models.clock import Clock
from models.errors import Forbidden, NotFound
from models.helpdesk import TICKET_MESSAGE, TICKET_UPDATED, ListTicketsPayload, TicketMessagePush, TicketUpdated
from models.notify import Kind
from models.roles import Principal, Role
from models.rooms import (
    presence_room,
    ticket_room,
    user_room,
    workspace_admins_room,
    workspace_room,
    workspace_staff_room,
)
from models.tickets import SIGNED_IN_DOOR, Ticket, TicketMessage, TicketQuery
from models.workspaces import Member
from services.accounts import AccountService
from services.attachments import AttachmentService
from services.emitter import Emitter
from services.notify import NotifyService
from services.support import SupportService
from services.widget import WidgetService
from storage.categories import CategoryStore
from storage.tickets import TicketStore
from storage.workspaces import WorkspaceStore

PAGE = 100


class SocketRooms(Protocol):
    """Room membership of other users' sockets, on every instance (wiring implements it over Socket.IO)."""

    async def sockets_of(self, user_id: str) -> list[str]:
        """Return the user's signed-in socket ids."""
        ...

    async def leave(self, sid: str, room: str) -> None:
        """Take socket ``sid`` out of ``room``."""
        ...


def member_sees(member: Member, ticket: Ticket) -> bool:
    """Return whether a workspace member may see the ticket, by the membership's role and categories.

    The membership is the one source of truth for staff (``can_see``, pushes, notifications): the account
    hook of ``handlers/workspaces.py`` keeps its role equal to the account's, and drops it when the account
    stops being active staff.
    """
    if member.workspace_id != ticket.workspace_id:
        return False
    if member.role == Role.MANAGER or ticket.assignee_id == member.user_id:
        return True
    return not member.categories or ticket.category_id in member.categories


class TicketAccess:
    """Signed-in ticket access. Visibility: admins see all; staff only while members (managers their workspaces,
    agents their tickets and categories); a client exactly the tickets they opened (ownership, not membership)."""

    def __init__(
        self,
        store: TicketStore,
        categories: CategoryStore,
        workspaces: WorkspaceStore,
        accounts: AccountService,
        notifier: NotifyService,
        files: AttachmentService,
        sockets: SocketRooms,
        widget: WidgetService,
        support: SupportService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.store = store
        self.category_store = categories
        self.workspaces = workspaces
        self.accounts = accounts
        self.notifier = notifier
        self.files = files
        self.sockets = sockets
        self.widget = widget
        self.support = support
        self.emitter = emitter
        self.clock = clock
        self.change_hooks: list[Callable[[Ticket, str], Awaitable[None]]] = []  # after each push (wiring.py)

    async def scopes(self, who: Principal) -> dict[str, list[str]]:
        """Return the caller's workspaces, each with its categories (empty: all of them)."""
        return {m.workspace_id: m.categories for m in await self.workspaces.memberships(who.user_id)}

    async def require_manager_of(self, who: Principal, workspace_id: str) -> None:
        """Raise unless the caller is an admin or a manager of the workspace."""
        if who.role == Role.ADMIN:
            return
        member = await self.workspaces.get_member(workspace_id, who.user_id)
        if who.role != Role.MANAGER or member is None:
            raise Forbidden("only an admin or a manager of this workspace may do this")

    async def can_see(self, who: Principal, ticket: Ticket) -> bool:
        """Return whether the caller may read (and take part in) the ticket."""
        if who.role == Role.ADMIN:
            return True
        if who.role == Role.CLIENT:
            return ticket.client_id == who.user_id
        member = await self.workspaces.get_member(ticket.workspace_id, who.user_id)
        return member is not None and member_sees(member, ticket)

    async def ticket(self, who: Principal, ticket_id: str) -> Ticket:
        """Return the ticket if the caller may see it; ``NotFound`` otherwise (existence is not leaked)."""
        try:
            ticket = await self.store.get_ticket(ticket_id)
        except NotFound:
            ticket = None
        if ticket is None or not await self.can_see(who, ticket):
            raise NotFound("no such ticket", {"ticket_id": ticket_id})
        return ticket

    async def query(self, who: Principal, p: ListTicketsPayload) -> TicketQuery:
        """Return the listing query of the caller's role, narrowed by the filters they gave."""
        filters: dict[str, Any] = {
            "status": p.status,
            "category_id": p.category_id,
            "assignee_id": p.assignee_id,
            "created_from": p.created_from,
            "created_to": p.created_to,
        }
        only = [p.workspace_id] if p.workspace_id else None
        if who.role == Role.ADMIN:
            return TicketQuery(workspace_ids=only, **filters)
        if who.role == Role.CLIENT:
            return TicketQuery(client_id=who.user_id, workspace_ids=only, **filters)
        scopes = await self.scopes(who)
        if p.workspace_id:
            scopes = {k: v for k, v in scopes.items() if k == p.workspace_id}
        if who.role == Role.MANAGER:
            return TicketQuery(workspace_ids=list(scopes), **filters)
        return TicketQuery(agent_id=who.user_id, agent_scopes=scopes, workspace_ids=only, **filters)

    async def audience(self, ticket: Ticket, *also: str | None, subscribers: bool = False) -> list[str]:
        """Return rooms reaching only who may see the ticket now: its room, its client, the assignee and
        ``also`` users while members who see it; with ``subscribers``, the workspace's subscribed admins and
        the subscribed members who see it."""
        members = {m.user_id: m for m in await self.workspaces.list_members(ticket.workspace_id)}

        def sees(user_id: str) -> bool:
            member = members.get(user_id)
            return member is not None and member_sees(member, ticket)

        rooms = [ticket_room(ticket.id)]
        if ticket.door == SIGNED_IN_DOOR:  # a Dowell or widget client is no account: told at their own door
            rooms.append(user_room(ticket.client_id))
        rooms += [user_room(u) for u in (ticket.assignee_id, *also) if u and sees(u)]
        if subscribers:
            rooms.append(workspace_admins_room(ticket.workspace_id))
            rooms += [workspace_staff_room(ticket.workspace_id, u) for u in members if sees(u)]
        return list(dict.fromkeys(rooms))

    async def push(self, ticket: Ticket, change: str, *also: str | None) -> None:
        """Push ``ticket_updated`` to who may see the ticket (``created`` also to the allowed subscribers)."""
        rooms = await self.audience(ticket, *also, subscribers=change == "created")
        await self.emitter.push(TICKET_UPDATED, TicketUpdated(ticket=ticket, change=change), to=rooms)
        for hook in self.change_hooks:
            await hook(ticket, change)

    async def push_message(self, ticket: Ticket, message: TicketMessage) -> None:
        """Push ``ticket_message`` to the ticket's room, its client and its assignee while they may see it."""
        data = TicketMessagePush(ticket_id=ticket.id, message=message)
        await self.emitter.push(TICKET_MESSAGE, data, to=await self.audience(ticket))
        for hook in self.change_hooks:
            await hook(ticket, "message")

    async def principal(self, user_id: str) -> Principal | None:
        """Return the user's principal as their account is now, or None if it is gone or deactivated."""
        try:
            user = await self.accounts.store.get_user(user_id)
        except NotFound:
            return None
        return Principal(user_id=user.id, role=user.role, name=user.name) if user.active else None

    async def recheck(self, user_id: str, tickets: list[Ticket]) -> list[str]:
        """Take the user's sockets (on any instance) out of the rooms of those tickets they may no longer see,
        and out of the presence rooms of those tickets' participants they no longer share a ticket with.

        Returns the ids of the tickets they lost.
        """
        who = await self.principal(user_id)
        lost = [t for t in tickets if who is None or not await self.can_see(who, t)]
        if lost:
            watched = await self.unshared(who, user_id, lost)
            rooms = [ticket_room(t.id) for t in lost] + [presence_room(u) for u in watched]
            for sid in await self.sockets.sockets_of(user_id):
                for room in rooms:
                    await self.sockets.leave(sid, room)
        return [t.id for t in lost]

    async def unshared(self, who: Principal | None, user_id: str, lost: list[Ticket]) -> list[str]:
        """Return the participants (client, assignee) of the lost tickets with whom the user shares no ticket
        they may still see: watching their presence came with those tickets and ends with them."""
        others = sorted({u for t in lost for u in (t.client_id, t.assignee_id) if u and u != user_id})
        if who is None or not others:
            return others
        if who.role == Role.ADMIN:
            return []  # an admin sees every ticket
        base = await self.query(who, ListTicketsPayload())
        gone = []
        for other in others:
            queries = [replace(base, assignee_id=other)]
            if base.client_id is None:  # a client's listing is their own tickets already
                queries.append(replace(base, client_id=other))
            if not [q for q in queries if await self.store.list_tickets(q, None, 1)]:
                gone.append(other)
        return gone

    async def recheck_workspace(self, user_id: str, workspace_id: str) -> None:
        """Recheck the user's access to every ticket of the workspace (after their membership changed)."""
        query = TicketQuery(workspace_ids=[workspace_id])
        after = None
        while page := await self.store.list_tickets(query, after, PAGE):
            await self.recheck(user_id, page)
            if len(page) < PAGE:
                break
            after = (page[-1].created_at, page[-1].id)

    async def evict(self, user_id: str, workspace_id: str) -> None:
        """Take a former member's sockets, on every instance, out of the workspace's rooms and its tickets' rooms."""
        for sid in await self.sockets.sockets_of(user_id):  # a socket of another instance: sent to it over Redis
            await self.sockets.leave(sid, workspace_staff_room(workspace_id, user_id))
            await self.sockets.leave(sid, workspace_room(workspace_id))
        await self.recheck_workspace(user_id, workspace_id)

    async def notify(self, user_id: str | None, actor: str, kind: Kind, title: str, ticket: Ticket) -> None:
        """Notify ``user_id`` about the ticket unless they did it themselves or may no longer see it."""
        if not user_id or user_id == actor or (user_id == ticket.client_id and ticket.door != SIGNED_IN_DOOR):
            return
        if user_id != ticket.client_id:
            member = await self.workspaces.get_member(ticket.workspace_id, user_id)
            if member is None or not member_sees(member, ticket):
                return
        await self.notifier.notify(user_id, kind, title, ticket.title, {"ticket_id": ticket.id})

    async def may_subscribe(self, who: Principal, workspace_id: str) -> bool:
        """Return whether the caller subscribes as an admin (True) or a member (False); ``Forbidden`` otherwise."""
        await self.workspaces.get(workspace_id)
        if who.role == Role.ADMIN:
            return True
        await self.require_member(who, workspace_id)
        return False

    async def require_member(self, who: Principal, workspace_id: str) -> None:
        """Raise ``Forbidden`` unless the caller is a member of the workspace."""
        if await self.workspaces.get_member(workspace_id, who.user_id) is None:
            raise Forbidden("you are not a member of this workspace")
