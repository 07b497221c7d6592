"""Signed-in helpdesk: the ticket use cases (submit, list, answer, status, reassign, read) at every door."""

from __future__ import annotations

from typing import Any

from models.errors import Conflict, Forbidden, InvalidPayload, NotFound
from models.helpdesk import TICKET_READ, ListTicketsPayload, SubmitTicketPayload, dowell_view
from models.notify import Kind
from models.roles import Principal, Role
from models.rooms import ticket_room
from models.tickets import (
    SIGNED_IN_DOOR,
    TRANSITIONS,
    WIDGET_DOOR,
    ReadMarker,
    Ticket,
    TicketMessage,
    TicketStatus,
    signed_in_message,
    signed_in_record,
)
from services.categories import CategoryCases
from storage.cursor import decode_cursor, encode_cursor
from storage.database import new_id

HISTORY = 200


class HelpdeskService(CategoryCases):
    """Signed-in tickets: the use cases, on top of the access rules (``TicketAccess``) and categories."""

    async def submit(self, who: Principal, p: SubmitTicketPayload) -> Ticket:
        """Open a client's ticket (auto-assigned when the workspace says so)."""
        category = await self.category_store.get(p.category_id)
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
        opened = await self.store.open_ticket(ticket, auto_assign=workspace.auto_assign)
        assert opened is not None  # only a line-door ticket may find no holder
        return opened

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
            "messages": [signed_in_message(m) for m in await self.store.list_messages(ticket.id, HISTORY)],
            "reads": await self.store.list_reads(ticket.id),
        }

    async def send(self, who: Principal, ticket_id: str, body: str, attachments: list[str]) -> TicketMessage:
        """Post a message in a ticket the caller may see, push it and notify the other side."""
        ticket = await self.ticket(who, ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
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
        await self.store.add_message(signed_in_record(message))
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
        """Hand a ticket to another member of its workspace (a widget or Dowell ticket also to a line manager, its
        ``ticket_count`` moving with it)."""
        ticket = await self.ticket(who, ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
        at_door = ticket.door != SIGNED_IN_DOOR  # a widget or Dowell ticket may also go back to a line manager
        if await self.workspaces.get_member(ticket.workspace_id, assignee_id) is None and not (
            at_door and await self.support.is_line_manager(ticket.workspace_id, assignee_id)
        ):
            raise InvalidPayload(
                "the assignee is not a staff member of the ticket's workspace",
                [{"field": "assignee_id", "message": "not a member of the workspace", "type": "not_member"}],
            )
        if ticket.assignee_id == assignee_id:
            return ticket
        # the count of the ticket's door moves with it: ``load`` signed in, ``ticket_count`` at a line door
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
