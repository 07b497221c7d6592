"""The widget visitor's use cases: open a conversation, then read, write and wait in their own ones only."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from auth.widget_tokens import new_visitor_secret
from auth.workspace_keys import room_tag
from handlers.compat import envelope
from handlers.context import Deps, EventContext
from handlers.support import MESSAGE, NEW_TICKET
from handlers.widget_auth import NO_VISITOR, SESSION_KEY, WidgetCaller, still_valid
from handlers.widget_push import WIDGET_MESSAGE
from models.clock import to_millis
from models.errors import Conflict, NotFound, Unauthorized
from models.rooms import (
    support_ticket_room,
    support_workspace_room,
    widget_identity_room,
    widget_visitor_room,
    widget_workspace_room,
)
from models.support import SupportMessage, SupportTicket
from models.widget import VisitorRecord, WidgetOpenPayload, WidgetSendPayload, WidgetTicketPayload
from models.workspaces import WorkspaceRecord
from storage.database import new_id
from storage.support import SupportStore
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.widget")

VISITOR_PREFIX = "visitor-"
OPEN_GUARD = "widget_open_guard"


async def enter_widget_rooms(sid: str, deps: Deps, caller: WidgetCaller) -> None:
    """Put a widget socket in its workspace's widget room, its identity room and its visitor's room.

    The first two are also presence groups, so rotating a credential finds the socket on any instance.
    """
    ws = caller.workspace_id
    credential_rooms = [widget_workspace_room(ws, caller.token_tag)]
    if caller.identity_tag is not None:
        credential_rooms.append(widget_identity_room(ws, caller.identity_tag))
    for room in credential_rooms:
        await deps.sio.enter_room(sid, room)
        await deps.services.presence.join_group(sid, room)
    if caller.visitor_id is not None:
        await deps.sio.enter_room(sid, widget_visitor_room(ws, caller.visitor_id, caller.token_tag))


class WidgetService:
    """Visitor actions through the public widget token, scoped to the visitor's own tickets."""

    def __init__(self, deps: Deps, workspaces: WorkspaceStore, visitors: VisitorStore, support: SupportStore) -> None:
        self.deps = deps
        self.workspaces = workspaces
        self.visitors = visitors
        self.support = support
        self.files = deps.services.attachments

    def now(self) -> datetime:
        """Return the clock's time at the stored precision."""
        return to_millis(self.deps.clock())

    async def caller(self, ctx: EventContext) -> tuple[WidgetCaller, WorkspaceRecord]:
        """Return the widget caller of this socket and its workspace; ``Unauthorized`` if none or revoked."""
        caller: WidgetCaller | None = ctx.session.get(SESSION_KEY)
        if caller is None:
            raise Unauthorized("connect with auth.widget_token to use the widget events")
        try:
            return caller, await still_valid(self.workspaces, caller)
        except Unauthorized:
            ctx.session.pop(SESSION_KEY, None)  # never again on this socket, even if the token came back
            await self.deps.sio.disconnect(ctx.sid)
            raise

    async def visitor(self, ctx: EventContext) -> tuple[WidgetCaller, WorkspaceRecord, str]:
        """Like ``caller`` but the socket must be a known visitor (the widget token alone sees nothing)."""
        caller, record = await self.caller(ctx)
        if caller.visitor_id is None:
            raise Unauthorized(NO_VISITOR)
        return caller, record, caller.visitor_id

    async def own_ticket(self, workspace_id: str, visitor_id: str, ticket_id: str) -> SupportTicket:
        """Return the visitor's ticket; another visitor's (or any other) ticket is ``NotFound``."""
        ticket = await self.support.get_ticket(workspace_id, ticket_id)
        if ticket is None or ticket.user_id != visitor_id:
            raise NotFound("Ticket not found", {"ticket_id": ticket_id})
        return ticket

    async def open(self, ctx: EventContext, p: WidgetOpenPayload) -> dict[str, Any]:
        """Open a ticket for the visitor (creating the visitor on first use; their secret is shown once)."""
        caller, record = await self.caller(ctx)
        if record.products and p.product not in record.products:
            raise NotFound(f"Product {p.product} not found in this Workspace")
        secret, visitor_id = await self.ensure_visitor(ctx, caller, record)
        ticket = await self.support.open_ticket(new_id(), record.id, visitor_id, p.product, self.now())
        if ticket is None:
            raise NotFound("No Line Manager found for this Workspace")
        workspace_room = support_workspace_room(record.id, room_tag(record.key_hash))
        await self.deps.emit(NEW_TICKET, {"data": ticket, "status": "success"}, to=workspace_room)
        answer: dict[str, Any] = {"visitor_id": visitor_id, "ticket": ticket}
        if secret is not None:
            answer["visitor_secret"] = secret
        return answer

    async def ensure_visitor(
        self, ctx: EventContext, caller: WidgetCaller, record: WorkspaceRecord
    ) -> tuple[str | None, str]:
        """Return (the new visitor secret or None, the visitor id): create the socket's visitor on first use.

        One socket gets one visitor even when its ``widget_open`` events run concurrently: they queue on a
        lock kept in the socket's session. A Python lock is enough here (and no database constraint is
        needed) because it guards only this socket's own session state, and a socket lives in one process.
        """
        guard: asyncio.Lock = ctx.session.setdefault(OPEN_GUARD, asyncio.Lock())  # no await before: one lock
        async with guard:
            if caller.visitor_id is not None:
                return None, caller.visitor_id
            secret: str | None
            secret, secret_hash = new_visitor_secret()
            fresh = VisitorRecord(
                id=VISITOR_PREFIX + new_id(),
                workspace_id=record.id,
                identifier=caller.identifier,
                secret_hash=secret_hash,
                created_at=self.now(),
            )
            stored = await self.visitors.add(fresh)
            if stored.id != fresh.id:
                secret = None  # the verified customer already has a visitor (another device): no new secret
            caller.visitor_id = stored.id
            await enter_widget_rooms(ctx.sid, self.deps, caller)
            log.info("event=widget_visitor sid=%s workspace=%s visitor=%s", ctx.sid, record.id, stored.id)
            return secret, stored.id

    async def conversations(self, ctx: EventContext) -> list[SupportTicket]:
        """Return the visitor's tickets, oldest first (none before the first ``widget_open``)."""
        caller, record = await self.caller(ctx)
        if caller.visitor_id is None:
            return []
        return await self.support.list_user_tickets(record.id, caller.visitor_id)

    async def messages(self, ctx: EventContext, p: WidgetTicketPayload) -> list[SupportMessage]:
        """Return the messages of one of the visitor's tickets."""
        _, record, visitor_id = await self.visitor(ctx)
        ticket = await self.own_ticket(record.id, visitor_id, p.ticket_id)
        return await self.support.list_messages(ticket.id)

    async def send(self, ctx: EventContext, p: WidgetSendPayload) -> SupportMessage:
        """Post the visitor's message (and their own uploads) in one of their open tickets."""
        caller, record, visitor_id = await self.visitor(ctx)
        ticket = await self.own_ticket(record.id, visitor_id, p.ticket_id)
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        if p.reply_to is not None and await self.support.get_message(ticket.id, p.reply_to) is None:
            raise NotFound("Reply message not found", {"reply_to": p.reply_to})
        await self.files.check_owned(p.attachments, visitor_id, record.id)
        message = SupportMessage(
            id=new_id(),
            ticket_id=ticket.id,
            message_data=p.message_data,
            author=visitor_id,
            reply_to=p.reply_to,
            attachments=p.attachments,
            created_at=self.now(),
            product=ticket.product,
            workspace_id=record.id,
        )
        await self.support.add_message(message, uploader_id=visitor_id)
        agents = support_ticket_room(ticket.id, room_tag(record.key_hash))
        await self.deps.emit(MESSAGE, envelope(message, "success", "send_message"), to=agents)
        own = widget_visitor_room(record.id, visitor_id, caller.token_tag)
        await self.deps.emit(WIDGET_MESSAGE, message, to=own, skip_sid=ctx.sid)
        return message

    async def waiting_time(self, ctx: EventContext, p: WidgetTicketPayload) -> dict[str, Any]:
        """Return how many tickets are ahead of the visitor's open ticket and the estimated wait in minutes."""
        _, record, visitor_id = await self.visitor(ctx)
        ticket = await self.own_ticket(record.id, visitor_id, p.ticket_id)
        if ticket.is_closed:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        manager = await self.support.get_line_manager(record.id, ticket.line_manager)
        ahead = await self.support.tickets_ahead(ticket)
        serving = manager.average_serving_time if manager else 0.0
        return {"ticket_id": ticket.id, "tickets_ahead": ahead, "waiting_time": ahead * serving}
