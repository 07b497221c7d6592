"""Dowell support tickets (workspace id + API key): topics, line managers, tickets and their chat messages.

The handler (``handlers/support.py``) declares the events with the Dowell envelope; the caller's rooms are
entered there, and rooms are named by the key's tag (``auth.workspace_keys.room_tag``) given by the handler.
"""

from __future__ import annotations

from typing import Any

from models.clock import Clock
from models.common import to_jsonable
from models.errors import Conflict, NotFound
from models.helpdesk import TICKET_MESSAGE, TOPIC_KIND, signed_in_view
from models.rooms import support_ticket_room, support_workspace_room, ticket_room
from models.support import (
    NEW_TICKET,
    TICKET_MESSAGE_RESPONSE,
    CreateLineManagerPayload,
    LineManager,
    NewTicket,
    SupportMessage,
    SupportTicket,
    TicketMessagePayload,
    Topic,
    dowell_message,
    dowell_record,
    dowell_ticket,
    line_ticket,
    normalise_topic,
)
from models.tickets import Ticket, TicketStatus
from models.widget import WIDGET_MESSAGE, WIDGET_TICKET_CLOSED, WidgetTicketClosed
from models.workspaces import Workspace
from services.attachments import AttachmentService
from services.emitter import Emitter
from services.widget import WidgetService
from storage.categories import CategoryStore, topic_category, topic_of
from storage.database import new_id
from storage.line_managers import LineManagerStore
from storage.tickets import TicketStore


def dowell(data: Any, operation: str, status: str = "success") -> dict[str, Any]:
    """Return the Dowell envelope of ``data`` (documents dumped as JSON, ``_id`` included)."""
    return {"data": to_jsonable(data), "status": status, "operation": operation}


class SupportService:
    """The Dowell support use cases: the Dowell adapter of the ticket store (tickets go out in the Dowell view,
    ``models.support.dowell_ticket``), topics (categories of kind ``topic``) and the line managers; visitors are
    told through the widget service."""

    def __init__(
        self,
        store: TicketStore,
        categories: CategoryStore,
        line: LineManagerStore,
        widget: WidgetService,
        files: AttachmentService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.store = store
        self.categories = categories
        self.line = line
        self.widget = widget
        self.files = files
        self.emitter = emitter
        self.clock = clock

    async def document(self, workspace: Workspace, ticket_id: str, product: str | None) -> Ticket:
        """Return the workspace's line-door ticket (of ``product`` when given), else the failure "Ticket not found"."""
        ticket = await self.store.get_line_ticket(workspace.id, ticket_id)
        if ticket is None or (product is not None and ticket.product != product):
            raise NotFound("Ticket not found", {"ticket_id": ticket_id})
        return ticket

    async def ticket(self, workspace: Workspace, ticket_id: str, product: str | None) -> SupportTicket:
        """Return the Dowell view of the workspace's ticket (of ``product`` when given), else "Ticket not found"."""
        return dowell_ticket(await self.document(workspace, ticket_id, product))

    async def ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every support ticket of the workspace."""
        return await self.store.line_ticket_ids(workspace_id)

    async def create_topic(self, workspace: Workspace, name: str) -> Topic:
        """Store a topic (Dowell's spelling of its name); ``Conflict`` for a duplicate."""
        topic = Topic(id=new_id(), name=normalise_topic(name), workspace_id=workspace.id, created_at=self.clock())
        try:
            await self.categories.create(topic_category(topic))
        except Conflict as exc:
            raise Conflict(f"Topic {topic.name} already exists") from exc
        return topic

    async def topics(self, workspace: Workspace) -> list[Topic]:
        """Return the workspace's topics; "No Topic found" when there are none."""
        topics = [topic_of(c) for c in await self.categories.list_kind(workspace.id, TOPIC_KIND)]
        if not topics:
            raise NotFound("No Topic found for this Workspace")
        return topics

    async def create_line_manager(self, workspace: Workspace, p: CreateLineManagerPayload) -> LineManager:
        """Store a line manager; ``Conflict`` for a user who is one already."""
        manager = LineManager(
            id=new_id(),
            user_id=p.user_id,
            positions_in_a_line=p.positions_in_a_line,
            average_serving_time=p.average_serving_time,
            ticket_count=p.ticket_count,
            workspace_id=workspace.id,
            created_at=self.clock(),
        )
        return await self.line.create(manager)

    async def line_managers(self, workspace: Workspace) -> list[LineManager]:
        """Return the workspace's line managers; "No Line Manager found" when there are none."""
        managers = await self.line.list_in_line(workspace.id)
        if not managers:
            raise NotFound("No Line Manager found for this Workspace")
        return managers

    async def open(self, workspace: Workspace, user_id: str, product: str) -> SupportTicket:
        """Open a ticket with the least-loaded line manager (one atomic step)."""
        if workspace.products and product not in workspace.products:
            raise NotFound(f"Product {product} not found in this Workspace")
        ticket = await self.store.open_ticket(line_ticket(new_id(), workspace.id, user_id, product, self.clock()))
        if ticket is None:
            raise NotFound("No Line Manager found for this Workspace")
        await self.widget.ticket_changed(ticket.id, "created")
        return dowell_ticket(ticket)

    async def announce(self, ticket: SupportTicket, key_tag: str) -> None:
        """Push ``new_ticket`` to the workspace's support room of the key."""
        room = support_workspace_room(ticket.workspace_id, key_tag)
        await self.emitter.push(NEW_TICKET, NewTicket(data=ticket.model_dump(mode="json")), to=room)

    async def tickets(self, workspace: Workspace, product: str) -> list[SupportTicket]:
        """Return the workspace's tickets of ``product``."""
        return [dowell_ticket(t) for t in await self.store.list_line_tickets(workspace.id, product=product)]

    async def close(self, workspace: Workspace, ticket_id: str, product: str) -> str:
        """Close an open ticket (its manager's load drops) and tell the visitor's widget."""
        ticket = await self.ticket(workspace, ticket_id, product)
        open_, closed = TicketStatus.OPEN, TicketStatus.CLOSED
        if ticket.is_closed or await self.store.set_status(ticket.id, open_, closed, self.clock()) is None:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        closed = WidgetTicketClosed(ticket_id=ticket.id)
        await self.widget.push_to_visitor(workspace.id, ticket.user_id, WIDGET_TICKET_CLOSED, closed)
        await self.widget.ticket_changed(ticket.id, "status")
        return "Ticket Closed"

    async def is_line_manager(self, workspace_id: str, user_id: str) -> bool:
        """Return whether the user is a line manager of the workspace."""
        return await self.line.get(workspace_id, user_id) is not None

    async def reopen(self, workspace: Workspace, ticket_id: str, product: str | None) -> SupportTicket:
        """Reopen a closed ticket (its manager's load grows)."""
        ticket = await self.ticket(workspace, ticket_id, product)
        now = self.clock()
        reopened = (
            await self.store.set_status(ticket.id, TicketStatus.CLOSED, TicketStatus.OPEN, now)
            if ticket.is_closed
            else None
        )
        if reopened is None:
            raise Conflict("Ticket Already Open", {"ticket_id": ticket.id})
        await self.widget.ticket_changed(ticket.id, "status")
        return dowell_ticket(reopened)

    async def waiting_time(self, workspace: Workspace, ticket_id: str, product: str | None) -> dict[str, Any]:
        """Return the tickets ahead of an open ticket in its manager's line, and the estimated wait."""
        document = await self.document(workspace, ticket_id, product)
        ticket = dowell_ticket(document)
        if ticket.is_closed:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        manager = await self.line.get(workspace.id, ticket.line_manager)
        ahead = await self.store.tickets_ahead(document)
        serving = manager.average_serving_time if manager else 0.0
        return {
            "ticket_id": ticket.id,
            "line_manager": ticket.line_manager,
            "tickets_ahead": ahead,
            "average_serving_time": serving,
            "waiting_time": ahead * serving,
        }

    async def send(self, workspace: Workspace, p: TicketMessagePayload) -> SupportMessage:
        """Store a message, linking its attachments in the same transaction (``echo`` then pushes it)."""
        ticket = await self.ticket(workspace, p.ticket_id, p.product)
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        if p.reply_to is not None and await self.store.get_message(ticket.id, p.reply_to) is None:
            raise NotFound("Reply message not found", {"reply_to": p.reply_to})
        await self.files.check_owned(p.attachments, None, workspace.id)
        message = SupportMessage(
            id=new_id(),
            ticket_id=ticket.id,
            message_data=p.message_data,
            author=p.user_id,
            reply_to=p.reply_to,
            attachments=p.attachments,
            created_at=self.clock(),
            product=ticket.product,
            workspace_id=workspace.id,
        )
        # links the attachments in the same transaction, or refuses them all
        await self.store.add_message(dowell_record(message))
        return message

    async def echo(self, message: SupportMessage, visitor_id: str, key_tag: str) -> None:
        """Push a new message to the ticket's room of the key (the sender included) and to the visitor's widget."""
        room = support_ticket_room(message.ticket_id, key_tag)
        await self.emitter.push(TICKET_MESSAGE_RESPONSE, dowell(message, "send_message"), to=room)
        await self.widget.push_to_visitor(message.workspace_id, visitor_id, WIDGET_MESSAGE, message)
        await self.emitter.push(TICKET_MESSAGE, signed_in_view(message), to=ticket_room(message.ticket_id))

    async def messages(self, ticket: SupportTicket) -> list[SupportMessage]:
        """Return the ticket's messages, oldest first."""
        return [dowell_message(m) for m in await self.store.list_messages(ticket.id)]

    async def unread(self, workspace: Workspace, ticket_id: str, user_id: str, product: str | None) -> dict[str, Any]:
        """Return how many messages of the ticket ``user_id`` has not read."""
        ticket = await self.ticket(workspace, ticket_id, product)
        count = await self.store.count_unread(ticket.id, user_id)
        return {"ticket_id": ticket.id, "user_id": user_id, "unread_count": count}

    async def mark_read(
        self, workspace: Workspace, ticket_id: str, user_id: str, product: str | None
    ) -> dict[str, Any]:
        """Mark the messages of the ticket not written by ``user_id`` read."""
        ticket = await self.ticket(workspace, ticket_id, product)
        return {"ticket_id": ticket.id, "user_id": user_id, "marked": await self.store.mark_read(ticket.id, user_id)}
