"""Support tickets exactly as Dowell Chat V2 frontends expect (workspace id + API key in every payload).

Every event answers the sender on its old listen-on event with ``{"data", "status", "operation"}`` (declared
with ``compat=DowellEnvelope``) and also returns Deskline's ack. Failures carry the old human sentences in
``data``. ``mark_read`` shares its name with the signed-in read receipt: ``handlers/helpdesk.py`` declares both.
"""

from __future__ import annotations

from typing import Any

from auth.workspace_keys import hash_api_key, room_tag
from handlers.access import WORKSPACE_KEY
from handlers.compat import DowellEnvelope
from handlers.context import EventContext
from handlers.events import EventRouter
from models.pushes import Push
from models.rooms import support_ticket_room, support_workspace_room
from models.support import (
    SETTING_RESPONSE,
    TICKET_MESSAGE_RESPONSE,
    TICKET_RESPONSE,
    CloseTicketPayload,
    CreateLineManagerPayload,
    CreateTicketPayload,
    CreateTopicPayload,
    DowellResponse,
    KeyedPayload,
    LineManager,
    ProductPayload,
    ReaderPayload,
    SupportMessage,
    SupportTicket,
    TicketMessagePayload,
    TicketRefPayload,
    Topic,
)
from models.workspaces import Workspace
from services.bundle import Services
from services.support import dowell

SETTING = SETTING_RESPONSE
TICKET = TICKET_RESPONSE
MESSAGE = TICKET_MESSAGE_RESPONSE


def tag_of(payload: KeyedPayload) -> str:
    """Return the room tag of the (already checked) API key the payload carries."""
    return room_tag(hash_api_key(payload.api_key))


def ws(ctx: EventContext) -> Workspace:
    """Return the workspace the router authenticated with the payload's key."""
    assert ctx.workspace is not None
    return ctx.workspace


def dowell_read() -> DowellEnvelope:
    """The envelope of the Dowell ``mark_read`` (declared by ``handlers/helpdesk.py``)."""
    return DowellEnvelope(response=MESSAGE, operation="mark_read", echo=True)


async def mark_read(services: Services, ctx: EventContext, p: ReaderPayload) -> dict[str, Any]:
    """The Dowell ``mark_read``: the payload's key was checked by the caller (``handlers/helpdesk.py``)."""
    read = await services.support.mark_read(ws(ctx), p.ticket_id, p.user_id, p.product)
    await services.widget_live.key_read(read["ticket_id"], p.user_id)  # a widget ticket's visitor gets a receipt
    return read


def register(router: EventRouter, services: Services) -> None:
    """Declare the Dowell support-ticket events."""
    support, emitter = services.support, services.emitter

    def dowell_event(
        name: str, model: type[KeyedPayload], response: Push[DowellResponse], operation: str, echo: bool = True
    ) -> Any:
        compat = DowellEnvelope(response=response, operation=operation, echo=echo)
        return router.on(name, model, access=WORKSPACE_KEY, compat=compat)

    @dowell_event("create_topic", CreateTopicPayload, SETTING, "create_topic")
    async def create_topic(ctx: EventContext, p: CreateTopicPayload) -> Topic:
        return await support.create_topic(ws(ctx), p.name)

    @dowell_event("get_all_topics", KeyedPayload, SETTING, "get_all_topics")
    async def get_all_topics(ctx: EventContext, p: KeyedPayload) -> list[Topic]:
        await ctx.enter(support_workspace_room(ws(ctx).id, tag_of(p)))
        return await support.topics(ws(ctx))

    @dowell_event("create_line_manager", CreateLineManagerPayload, SETTING, "create_line_manager")
    async def create_line_manager(ctx: EventContext, p: CreateLineManagerPayload) -> LineManager:
        return await support.create_line_manager(ws(ctx), p)

    @dowell_event("get_all_line_managers", KeyedPayload, SETTING, "get_all_line_managers")
    async def get_all_line_managers(ctx: EventContext, p: KeyedPayload) -> list[LineManager]:
        return await support.line_managers(ws(ctx))

    @dowell_event("create_ticket", CreateTicketPayload, TICKET, "create_ticket", echo=False)
    async def create_ticket(ctx: EventContext, p: CreateTicketPayload) -> SupportTicket:
        ticket = await support.open(ws(ctx), p.user_id, p.product)
        await ctx.enter(support_ticket_room(ticket.id, tag_of(p)))
        await emitter.push(TICKET_RESPONSE, dowell(ticket, "create_ticket"), to=ctx.sid)  # before new_ticket
        await support.announce(ticket, tag_of(p))
        return ticket

    @dowell_event("get_tickets", ProductPayload, TICKET, "get_ticket")
    async def get_tickets(ctx: EventContext, p: ProductPayload) -> list[SupportTicket]:
        return await support.tickets(ws(ctx), p.product)

    @dowell_event("close_ticket", CloseTicketPayload, TICKET, "close_ticket")
    async def close_ticket(ctx: EventContext, p: CloseTicketPayload) -> str:
        return await support.close(ws(ctx), p.ticket_id, p.product)

    @dowell_event("reopen_ticket", TicketRefPayload, TICKET, "reopen_ticket")
    async def reopen_ticket(ctx: EventContext, p: TicketRefPayload) -> SupportTicket:
        return await support.reopen(ws(ctx), p.ticket_id, p.product)

    @dowell_event("waiting_time_response", TicketRefPayload, TICKET, "waiting_time_response")
    async def waiting_time(ctx: EventContext, p: TicketRefPayload) -> dict[str, Any]:
        return await support.waiting_time(ws(ctx), p.ticket_id, p.product)

    @dowell_event("ticket_message_event", TicketMessagePayload, MESSAGE, "send_message", echo=False)
    async def ticket_message_event(ctx: EventContext, p: TicketMessagePayload) -> SupportMessage:
        ticket = await support.ticket(ws(ctx), p.ticket_id, p.product)
        message = await support.send(ws(ctx), p)
        await ctx.enter(support_ticket_room(ticket.id, tag_of(p)))
        await support.echo(message, ticket.user_id, tag_of(p))  # to the room, the sender included
        return message

    @dowell_event("get_ticket_messages", TicketRefPayload, MESSAGE, "get_ticket_messages")
    async def get_ticket_messages(ctx: EventContext, p: TicketRefPayload) -> list[SupportMessage]:
        ticket = await support.ticket(ws(ctx), p.ticket_id, p.product)
        await ctx.enter(support_ticket_room(ticket.id, tag_of(p)))
        return await support.messages(ticket)

    @dowell_event("get_unread_count", ReaderPayload, MESSAGE, "get_unread_count")
    async def get_unread_count(ctx: EventContext, p: ReaderPayload) -> dict[str, Any]:
        return await support.unread(ws(ctx), p.ticket_id, p.user_id, p.product)
