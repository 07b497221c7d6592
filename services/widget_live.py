"""The widget's live side: whether agents are online, typing and read receipts both ways, the moving wait
estimate, ratings of closed conversations and replies emailed to visitors who left an address.

Visitor-side calls take the visitor's workspace record and id (the handler checked the widget credentials);
the agent-side hooks are called by the signed-in helpdesk (typing, ``mark_read``) and by the widget service's
hooks (wiring).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec

from models.clock import Clock
from models.errors import Conflict, NotFound
from models.helpdesk import TICKET_READ, TYPING, Typing
from models.notify import Kind
from models.presence import Status
from models.rooms import ticket_room
from models.support import SupportTicket
from models.tickets import ReadMarker, Ticket, TicketQuery, TicketStatus
from models.widget import (
    DEFAULT_COLOR,
    TICKET_RATED,
    WIDGET_AGENT_TYPING,
    WIDGET_READ,
    WIDGET_WAIT_CHANGED,
    TicketRating,
    WidgetAgentTyping,
    WidgetAppearance,
    WidgetMessage,
    WidgetRead,
    WidgetStatus,
    WidgetWait,
)
from models.workspaces import WorkspaceRecord
from services.emitter import Emitter
from services.notify import NotifyService
from services.presence import PresenceService
from services.widget import WidgetService
from storage.tickets import TicketStore
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.widget")

P = ParamSpec("P")


def never_raises(hook: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """Log a hook's failure instead of raising it: the action that called the hook has already succeeded."""

    @functools.wraps(hook)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await hook(*args, **kwargs)
        except Exception:
            log.exception("event=widget_hook_failed hook=%s", hook.__name__)

    return guarded


WIDGET_DOOR = "widget"
VISITOR_NAME = "Visitor"  # how a visitor's typing is shown to agents
LINE_LIMIT = 500  # the most tickets of one line told that it moved


class WidgetLiveService:
    """Live conversation features between a widget visitor and the support side."""

    def __init__(
        self,
        widget: WidgetService,
        workspaces: WorkspaceStore,
        visitors: VisitorStore,
        tickets: TicketStore,
        presence: PresenceService,
        notify: NotifyService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.widget = widget
        self.workspaces = workspaces
        self.visitors = visitors
        self.tickets = tickets
        self.presence = presence
        self.notify = notify
        self.emitter = emitter
        self.clock = clock

    async def status(self, record: WorkspaceRecord) -> WidgetStatus:
        """Return whether a staff member of the workspace is online (not away), and how the widget looks."""
        members = [m.user_id for m in await self.workspaces.list_members(record.id)]  # agents and managers
        statuses = await self.presence.statuses(members) if members else {}
        online = any(s == Status.ONLINE for s in statuses.values())
        looks = WidgetAppearance(color=record.widget_color or DEFAULT_COLOR, title=record.widget_title)
        return WidgetStatus(agents_online=online, appearance=looks)

    async def visitor_typing(self, record: WorkspaceRecord, visitor_id: str, ticket_id: str, typing: bool) -> None:
        """Show the signed-in agents of the visitor's open ticket that the visitor is (no longer) typing."""
        ticket = await self.open_ticket(record, visitor_id, ticket_id)
        data = Typing(ticket_id=ticket.id, user_id=visitor_id, name=VISITOR_NAME, typing=typing)
        await self.emitter.push(TYPING, data, to=ticket_room(ticket.id))

    @never_raises
    async def agent_typing(self, ticket: Ticket, name: str, typing: bool) -> None:
        """Show the visitor of a widget ticket that an agent is (no longer) typing."""
        if ticket.door == WIDGET_DOOR:
            data = WidgetAgentTyping(ticket_id=ticket.id, name=name, typing=typing)
            await self.widget.push_to_visitor(ticket.workspace_id, ticket.client_id, WIDGET_AGENT_TYPING, data)

    async def visitor_read(
        self, record: WorkspaceRecord, visitor_id: str, ticket_id: str, message_id: str
    ) -> ReadMarker:
        """Move the visitor's read marker of their ticket forward and push it to the ticket's agents."""
        ticket = await self.widget.own_ticket(record.id, visitor_id, ticket_id)
        message = await self.tickets.get_message(ticket.id, message_id)
        if message is None:
            raise NotFound("no such message in this ticket", {"message_id": message_id})
        marker = ReadMarker(
            ticket_id=ticket.id,
            user_id=visitor_id,
            message_id=message.id,
            message_at=message.created_at,
            at=self.clock(),
        )
        marker = await self.tickets.set_read(marker)
        await self.emitter.push(TICKET_READ, marker, to=ticket_room(ticket.id))
        return marker

    @never_raises
    async def agent_read(self, marker: ReadMarker) -> None:
        """Tell the visitor of a widget ticket that an agent read up to a message (a read receipt)."""
        ticket = await self.tickets.get_ticket(marker.ticket_id)
        if ticket.door == WIDGET_DOOR and marker.user_id != ticket.client_id:
            data = WidgetRead(ticket_id=ticket.id, message_id=marker.message_id, at=marker.at)
            await self.widget.push_to_visitor(ticket.workspace_id, ticket.client_id, WIDGET_READ, data)

    @never_raises
    async def key_read(self, ticket_id: str, reader: str) -> None:
        """After a Dowell ``mark_read`` by ``reader``, tell the visitor of a widget ticket their messages were read."""
        ticket = await self.tickets.get_ticket(ticket_id)
        if ticket.door != WIDGET_DOOR or reader == ticket.client_id:
            return
        theirs = [m for m in await self.tickets.list_messages(ticket.id) if m.author_id == ticket.client_id]
        if theirs:
            data = WidgetRead(ticket_id=ticket.id, message_id=theirs[-1].id, at=self.clock())
            await self.widget.push_to_visitor(ticket.workspace_id, ticket.client_id, WIDGET_READ, data)

    @never_raises
    async def line_moved(self, ticket_id: str, change: str) -> None:
        """After a ticket closed or reopened, push each widget ticket of its line its new place and wait."""
        if change != "status":
            return
        changed = await self.tickets.get_ticket(ticket_id)
        if changed.door == "signed_in" or changed.assignee_id is None:
            return
        query = TicketQuery(
            workspace_ids=[changed.workspace_id], status=TicketStatus.OPEN, assignee_id=changed.assignee_id
        )
        line = await self.tickets.list_tickets(query, None, LINE_LIMIT)
        line = sorted((t for t in line if t.door != "signed_in"), key=lambda t: (t.created_at, t.id))
        manager = await self.widget.line.get(changed.workspace_id, changed.assignee_id)
        serving = manager.average_serving_time if manager else 0.0
        for ahead, ticket in enumerate(line):
            if ticket.door == WIDGET_DOOR:
                wait = WidgetWait(ticket_id=ticket.id, tickets_ahead=ahead, waiting_time=ahead * serving)
                await self.widget.push_to_visitor(ticket.workspace_id, ticket.client_id, WIDGET_WAIT_CHANGED, wait)

    async def rate(
        self, record: WorkspaceRecord, visitor_id: str, ticket_id: str, score: int, comment: str
    ) -> TicketRating:
        """Store the visitor's one rating of their closed ticket and push it to the ticket's agents."""
        ticket = await self.widget.own_ticket(record.id, visitor_id, ticket_id)
        if not ticket.is_closed:
            raise Conflict("a conversation is rated once it is closed", {"ticket_id": ticket.id})
        rating = TicketRating(
            ticket_id=ticket.id,
            workspace_id=record.id,
            visitor_id=visitor_id,
            score=score,
            comment=comment,
            created_at=self.clock(),
        )
        if not await self.visitors.add_rating(rating):
            raise Conflict("this conversation is rated already", {"ticket_id": ticket.id})
        log.info("event=widget_rate workspace=%s ticket=%s score=%d", record.id, ticket.id, score)
        await self.emitter.push(TICKET_RATED, rating, to=ticket_room(ticket.id))
        return rating

    async def rating(self, ticket: Ticket) -> TicketRating:
        """Return the visitor's rating of a ticket the caller may see; ``NotFound`` while it has none."""
        rating = await self.visitors.get_rating(ticket.id)
        if rating is None:
            raise NotFound("this ticket has no rating", {"ticket_id": ticket.id})
        return rating

    @never_raises
    async def email_reply(self, message: WidgetMessage, visitor_id: str) -> None:
        """Email a support-side reply to the address the visitor left (through the notify outbox)."""
        email = await self.visitors.get_email(message.workspace_id, visitor_id)
        if email is None:
            return
        who = message.author_name or "Support"
        text = f"{who} answered your message:\n\n{message.message_data}\n"
        await self.notify.email(email, "Reply to your support request", text, kind=Kind.TICKET_REPLY)

    async def open_ticket(self, record: WorkspaceRecord, visitor_id: str, ticket_id: str) -> SupportTicket:
        """Return one of the visitor's open tickets; ``NotFound`` for another's, ``Conflict`` once closed."""
        ticket = await self.widget.own_ticket(record.id, visitor_id, ticket_id)
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        return ticket
