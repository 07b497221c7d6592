"""Signed-in helpdesk: who may see and change which tickets, the ticket use cases, and how changes reach people."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from models.clock import Clock
from models.errors import Conflict, Forbidden, InvalidPayload, NotFound
from models.helpdesk import (
    SIGNED_IN_DOOR,
    TICKET_MESSAGE,
    TICKET_READ,
    TICKET_UPDATED,
    TRANSITIONS,
    WIDGET_DOOR,
    Category,
    ListTicketsPayload,
    ReadMarker,
    SubmitTicketPayload,
    Ticket,
    TicketMessage,
    TicketMessagePush,
    TicketQuery,
    TicketStatus,
    TicketUpdated,
    dowell_view,
)
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
from models.workspaces import Member
from services.accounts import AccountService
from services.attachments import AttachmentService
from services.emitter import Emitter
from services.notify import NotifyService
from services.support import SupportService
from services.widget import WidgetService
from storage.cursor import decode_cursor, encode_cursor
from storage.database import new_id
from storage.helpdesk import HelpdeskStore
from storage.workspaces import WorkspaceStore

PAGE = 100
HISTORY = 200


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


class HelpdeskService:
    """Signed-in tickets. Visibility: admins see all; staff only while members (managers their workspaces,
    agents their tickets and categories); a client exactly the tickets they opened (ownership, not membership)."""

    def __init__(
        self,
        store: HelpdeskStore,
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

    # --- use cases -------------------------------------------------------------------------------------------

    async def create_category(self, who: Principal, workspace_id: str, name: str, description: str) -> Category:
        """Add a category to a workspace (its admins and managers only)."""
        await self.workspaces.get(workspace_id)
        await self.require_manager_of(who, workspace_id)
        at = self.clock()
        category = Category(
            id=new_id(), workspace_id=workspace_id, name=name, description=description, created_at=at, updated_at=at
        )
        return await self.store.create_category(category)

    async def update_category(self, who: Principal, category_id: str, name: Any, description: Any) -> Category:
        """Rename or describe a category."""
        category = await self.store.get_category(category_id)
        await self.require_manager_of(who, category.workspace_id)
        return await self.store.update_category(category_id, name, description, self.clock())

    async def delete_category(self, who: Principal, category_id: str) -> dict[str, Any]:
        """Delete a category."""
        category = await self.store.get_category(category_id)
        await self.require_manager_of(who, category.workspace_id)
        await self.store.delete_category(category_id)
        return {"category_id": category_id, "deleted": True}

    async def category(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        return await self.store.get_category(category_id)

    async def categories(self, workspace_id: str) -> list[Category]:
        """Return a workspace's categories."""
        await self.workspaces.get(workspace_id)
        return await self.store.list_categories(workspace_id)

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

    async def submit(self, who: Principal, p: SubmitTicketPayload) -> Ticket:
        """Open a client's ticket (auto-assigned when the workspace says so)."""
        category = await self.store.get_category(p.category_id)
        workspace = await self.workspaces.get(category.workspace_id)
        await self.files.check_owned(p.attachments, who.user_id, None)
        at = self.clock()
        ticket = Ticket(
            id=new_id(),
            workspace_id=workspace.id,
            category_id=category.id,
            client_id=who.user_id,
            title=p.title,
            body=p.body,
            attachments=p.attachments,
            created_at=at,
            updated_at=at,
        )
        return await self.store.create_ticket(ticket, auto_assign=workspace.auto_assign)

    async def submitted(self, who: Principal, ticket: Ticket) -> None:
        """Tell who may see a new ticket, and its assignee (after the client entered its room)."""
        await self.push(ticket, "created")
        await self.notify(ticket.assignee_id, who.user_id, Kind.TICKET_ASSIGNED, "New ticket assigned to you", ticket)

    async def list_tickets(self, who: Principal, p: ListTicketsPayload) -> dict[str, Any]:
        """Return a page of the tickets the caller may see, with the next page's cursor."""
        query = await self.query(who, p)
        after = decode_cursor(p.cursor) if p.cursor else None
        tickets = await self.store.list_tickets(query, after, p.limit)
        cursor = encode_cursor(tickets[-1].created_at, tickets[-1].id) if len(tickets) == p.limit else None
        return {"tickets": tickets, "next_cursor": cursor}

    async def history(self, ticket: Ticket) -> dict[str, Any]:
        """Return a ticket with its latest messages and read markers."""
        return {
            "ticket": ticket,
            "messages": await self.store.list_messages(ticket.id, HISTORY),
            "reads": await self.store.list_reads(ticket.id),
        }

    async def send(self, who: Principal, ticket_id: str, body: str, attachments: list[str]) -> TicketMessage:
        """Post a message in a ticket the caller may see, push it and notify the other side."""
        ticket = await self.ticket(who, ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
        if attachments and ticket.door != SIGNED_IN_DOOR:
            raise InvalidPayload(
                "attachments to a Dowell or widget ticket are sent at its own door",
                [{"field": "attachments", "message": "not accepted on this ticket", "type": "door"}],
            )
        await self.files.check_owned(attachments, who.user_id, None)
        message = TicketMessage(
            id=new_id(),
            ticket_id=ticket.id,
            author_id=who.user_id,
            author_role=who.role.value,
            body=body,
            attachments=attachments,
            created_at=self.clock(),
        )
        await self.store.add_message(message)
        await self.push_message(ticket, message)
        if ticket.door != SIGNED_IN_DOOR:  # the Dowell key holders and the visitor get what a Dowell answer pushes
            visitor = ticket.client_id if ticket.door == WIDGET_DOOR else None
            await self.widget.answered(dowell_view(ticket, message), visitor)
        recipient = ticket.assignee_id if who.role == Role.CLIENT else ticket.client_id
        await self.notify(recipient, who.user_id, Kind.TICKET_REPLY, "New reply in your ticket", ticket)
        return message

    async def set_status(self, who: Principal, ticket_id: str, status: TicketStatus) -> Ticket:
        """Move a ticket along its workflow (a client may only close theirs)."""
        ticket = await self.ticket(who, ticket_id)
        if ticket.door != SIGNED_IN_DOOR:
            return await self.set_door_status(ticket, status)
        if who.role == Role.CLIENT and status != TicketStatus.CLOSED:
            raise Forbidden("a client may only close their ticket")
        if status not in TRANSITIONS[ticket.status]:
            raise Conflict(f"a {ticket.status} ticket cannot become {status}", {"status": ticket.status})
        changed = await self.store.set_status(ticket.id, ticket.status, status, self.clock())
        if changed is None:
            raise Conflict("the ticket changed meanwhile; reload it", {"ticket_id": ticket.id})
        await self.push(changed, "status")
        recipient = changed.assignee_id if who.role == Role.CLIENT else changed.client_id
        await self.notify(recipient, who.user_id, Kind.TICKET_STATUS, f"Ticket {status}", changed)
        return changed

    async def reassign(self, who: Principal, ticket_id: str, assignee_id: str) -> Ticket:
        """Hand a ticket to another member of its workspace."""
        ticket = await self.ticket(who, ticket_id)
        self.own_door_only(ticket)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
        if await self.workspaces.get_member(ticket.workspace_id, assignee_id) is None:
            raise InvalidPayload(
                "the assignee is not a staff member of the ticket's workspace",
                [{"field": "assignee_id", "message": "not a member of the workspace", "type": "not_member"}],
            )
        if ticket.assignee_id == assignee_id:
            return ticket
        changed = await self.store.set_assignee(ticket.id, ticket.assignee_id, assignee_id, self.clock())
        if changed is None:
            raise Conflict("the ticket changed meanwhile; reload it", {"ticket_id": ticket.id})
        if ticket.assignee_id:  # out of the ticket's room first if they may no longer see it: no push then
            await self.recheck(ticket.assignee_id, [changed])
        await self.push(changed, "assignee", ticket.assignee_id)
        await self.notify(assignee_id, who.user_id, Kind.TICKET_ASSIGNED, "Ticket assigned to you", changed)
        return changed

    async def set_door_status(self, ticket: Ticket, status: TicketStatus) -> Ticket:
        """Close or reopen a widget or Dowell ticket as its own door does (its line manager's ``ticket_count``
        moves in the same transaction; the visitor is told of a close), then push ``ticket_updated``."""
        workspace = await self.workspaces.get(ticket.workspace_id)
        if status == TicketStatus.CLOSED and ticket.status != TicketStatus.CLOSED:
            await self.support.close(workspace, ticket.id, str(ticket.product))
        elif status == TicketStatus.OPEN and ticket.status == TicketStatus.CLOSED:
            await self.support.reopen(workspace, ticket.id, ticket.product)
        else:
            raise Conflict(f"a {ticket.door} ticket is only closed or reopened", {"status": ticket.status})
        return await self.store.get_ticket(ticket.id)  # the Dowell path pushed ``ticket_updated`` (door_changed)

    async def door_changed(self, ticket_id: str, change: str) -> None:
        """Push ``ticket_updated`` for a widget or Dowell ticket created or closed/reopened at any door."""
        await self.push(await self.store.get_ticket(ticket_id), change)

    @staticmethod
    def own_door_only(ticket: Ticket) -> None:
        """Raise ``Conflict`` for a Dowell or widget ticket: its line manager is chosen at its own door."""
        if ticket.door != SIGNED_IN_DOOR:
            raise Conflict(
                "a Dowell or widget ticket is assigned at its own door", {"ticket_id": ticket.id, "door": ticket.door}
            )

    async def mark_read(self, who: Principal, ticket_id: str, message_id: str) -> ReadMarker:
        """Move the caller's read marker of a ticket forward and push it to the ticket's room."""
        ticket = await self.ticket(who, ticket_id)
        message = await self.store.get_message(ticket.id, message_id)
        if message is None:
            raise NotFound("no such message in this ticket", {"message_id": message_id})
        marker = await self.store.set_read(
            ReadMarker(
                ticket_id=ticket.id,
                user_id=who.user_id,
                message_id=message.id,
                message_at=message.created_at,
                at=self.clock(),
            )
        )
        await self.emitter.push(TICKET_READ, marker, to=ticket_room(ticket.id))
        return marker
