"""Support tickets exactly as Dowell Chat V2 frontends expect (workspace id + API key in every payload).

Every event answers the sender on its old listen-on event with ``{"data", "status", "operation"}``
and also returns Deskline's ack. Failures carry the old human sentences in ``data``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from auth.workspace_keys import hash_api_key, room_tag
from handlers.context import Deps, EventContext
from handlers.events import EventRouter, parse_payload
from handlers.widget_push import WIDGET_MESSAGE, WIDGET_TICKET_CLOSED, push_to_visitor
from models.clock import to_millis
from models.common import to_jsonable
from models.errors import Conflict, DesklineError, ErrorCode, NotFound, UnreadablePayload
from models.rooms import support_ticket_room, support_workspace_room
from models.support import (
    CloseTicketPayload,
    CreateLineManagerPayload,
    CreateTicketPayload,
    CreateTopicPayload,
    KeyedPayload,
    LineManager,
    ProductPayload,
    ReaderPayload,
    SupportMessage,
    SupportTicket,
    TicketMessagePayload,
    TicketRefPayload,
    Topic,
    normalise_topic,
)
from models.workspaces import Workspace
from services.workspaces import authenticate_workspace
from storage.database import new_id
from storage.support import SupportStore, make_support_store
from storage.workspaces import WorkspaceStore

SETTING = "setting_response"
TICKET = "ticket_response"
MESSAGE = "ticket_message_response"
NEW_TICKET = "new_ticket"
KEY_REVOKED = "workspace_key_revoked"
INVALID = "Invalid Data"
INTERNAL = "Something went wrong, please try again"

P = TypeVar("P", bound=KeyedPayload)
CompatHandler = Callable[[EventContext, Workspace, Any], Awaitable[Any]]


def tag_of(payload: KeyedPayload) -> str:
    """Return the room tag of the (already checked) API key the payload carries."""
    return room_tag(hash_api_key(payload.api_key))


async def revoke_key_rooms(deps: Deps, workspace_id: str, key_hash: str, reason: str) -> None:
    """Tell the sockets in the support rooms joined with a dead key, then empty those rooms (every instance)."""
    tag = room_tag(key_hash)
    ticket_ids = await make_support_store(deps.db).ticket_ids(workspace_id)
    rooms = [support_workspace_room(workspace_id, tag), *(support_ticket_room(t, tag) for t in ticket_ids)]
    await deps.emit(KEY_REVOKED, {"workspace_id": workspace_id, "reason": reason}, to=rooms)
    for room in rooms:
        await deps.sio.close_room(room)


def envelope(data: Any, status: str, operation: str) -> dict[str, Any]:
    """Return the Dowell response shape."""
    return {"data": to_jsonable(data), "status": status, "operation": operation}


def sentence(err: DesklineError) -> str:
    """Return the human sentence an old client shows for ``err``."""
    if err.code in (ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE):
        return INVALID
    if err.code == ErrorCode.INTERNAL:
        return INTERNAL
    return err.message


async def run_compat(
    ctx: EventContext,
    raw: Any,
    model: type[P],
    workspaces: WorkspaceStore,
    response: str,
    operation: str,
    handler: CompatHandler,
) -> Any:
    """Validate, check the API key and run ``handler``; a domain failure also goes out as a failure envelope."""
    try:
        payload = parse_payload(model, raw)
        workspace = await authenticate_workspace(workspaces, payload.workspace_id, payload.api_key)
        return await handler(ctx, workspace, payload)
    except DesklineError as err:
        await ctx.emit(response, envelope(sentence(err), "failure", operation))
        raise


def late_failure(
    response: str, operation: str, anonymous_only: bool = False
) -> Callable[[EventContext, DesklineError], Awaitable[None]]:
    """Envelope for failures raised outside ``run_compat`` (oversized or unreadable payload, rate limit, crash,
    time-out)."""

    async def hook(ctx: EventContext, err: DesklineError) -> None:
        if anonymous_only and ctx.principal is not None:
            return
        early = (ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL)
        if err.code in early or isinstance(err, UnreadablePayload):
            await ctx.emit(response, envelope(sentence(err), "failure", operation))

    return hook


class SupportService:
    """The support events' work, over the support and workspace stores."""

    def __init__(self, deps: Deps, store: SupportStore, workspaces: WorkspaceStore) -> None:
        self.deps = deps
        self.store = store
        self.workspaces = workspaces

    async def ticket(self, workspace: Workspace, ticket_id: str, product: str | None) -> SupportTicket:
        """Return the workspace's ticket (of ``product`` when given), else the failure "Ticket not found"."""
        ticket = await self.store.get_ticket(workspace.id, ticket_id)
        if ticket is None or (product is not None and ticket.product != product):
            raise NotFound("Ticket not found", {"ticket_id": ticket_id})
        return ticket

    async def mark_read(self, ctx: EventContext, raw: Any) -> Any:
        """``mark_read`` with an API key (registered by the helpdesk, which shares the event name)."""

        async def handle(ctx: EventContext, ws: Workspace, p: ReaderPayload) -> dict[str, Any]:
            ticket = await self.ticket(ws, p.ticket_id, p.product)
            data = {
                "ticket_id": ticket.id,
                "user_id": p.user_id,
                "marked": await self.store.mark_read(ticket.id, p.user_id),
            }
            await ctx.emit(MESSAGE, envelope(data, "success", "mark_read"))
            return data

        return await run_compat(ctx, raw, ReaderPayload, self.workspaces, MESSAGE, "mark_read", handle)


async def setup(deps: Deps) -> EventRouter:
    """Register the Dowell support-ticket events."""
    store = make_support_store(deps.db)
    await store.init()
    workspaces = deps.services.workspaces.store
    service = SupportService(deps, store, workspaces)
    files = deps.services.attachments
    router = EventRouter(deps)

    def now() -> datetime:
        return to_millis(deps.clock())

    def compat(name: str, model: type[KeyedPayload], response: str, operation: str) -> Callable[[Any], Any]:
        def register(handler: CompatHandler) -> CompatHandler:
            async def run(ctx: EventContext, raw: Any) -> Any:
                return await run_compat(ctx, raw, model, workspaces, response, operation, handler)

            router.on(name, on_error=late_failure(response, operation))(run)
            return handler

        return register

    async def reply(ctx: EventContext, response: str, operation: str, data: Any) -> Any:
        await ctx.emit(response, envelope(data, "success", operation))
        return data

    @compat("create_topic", CreateTopicPayload, SETTING, "create_topic")
    async def create_topic(ctx: EventContext, ws: Workspace, p: CreateTopicPayload) -> Topic:
        topic = Topic(id=new_id(), name=normalise_topic(p.name), workspace_id=ws.id, created_at=now())
        return await reply(ctx, SETTING, "create_topic", await store.create_topic(topic))

    @compat("get_all_topics", KeyedPayload, SETTING, "get_all_topics")
    async def get_all_topics(ctx: EventContext, ws: Workspace, p: KeyedPayload) -> list[Topic]:
        await ctx.enter(support_workspace_room(ws.id, tag_of(p)))
        topics = await store.list_topics(ws.id)
        if not topics:
            raise NotFound("No Topic found for this Workspace")
        return await reply(ctx, SETTING, "get_all_topics", topics)

    @compat("create_line_manager", CreateLineManagerPayload, SETTING, "create_line_manager")
    async def create_line_manager(ctx: EventContext, ws: Workspace, p: CreateLineManagerPayload) -> LineManager:
        manager = LineManager(
            id=new_id(),
            user_id=p.user_id,
            positions_in_a_line=p.positions_in_a_line,
            average_serving_time=p.average_serving_time,
            ticket_count=p.ticket_count,
            workspace_id=ws.id,
            created_at=now(),
        )
        return await reply(ctx, SETTING, "create_line_manager", await store.create_line_manager(manager))

    @compat("get_all_line_managers", KeyedPayload, SETTING, "get_all_line_managers")
    async def get_all_line_managers(ctx: EventContext, ws: Workspace, p: KeyedPayload) -> list[LineManager]:
        managers = await store.list_line_managers(ws.id)
        if not managers:
            raise NotFound("No Line Manager found for this Workspace")
        return await reply(ctx, SETTING, "get_all_line_managers", managers)

    @compat("create_ticket", CreateTicketPayload, TICKET, "create_ticket")
    async def create_ticket(ctx: EventContext, ws: Workspace, p: CreateTicketPayload) -> SupportTicket:
        if ws.products and p.product not in ws.products:
            raise NotFound(f"Product {p.product} not found in this Workspace")
        ticket = await store.open_ticket(new_id(), ws.id, p.user_id, p.product, now())
        if ticket is None:
            raise NotFound("No Line Manager found for this Workspace")
        await ctx.enter(support_ticket_room(ticket.id, tag_of(p)))
        await reply(ctx, TICKET, "create_ticket", ticket)
        await deps.emit(NEW_TICKET, {"data": ticket, "status": "success"}, to=support_workspace_room(ws.id, tag_of(p)))
        return ticket

    @compat("get_tickets", ProductPayload, TICKET, "get_ticket")
    async def get_tickets(ctx: EventContext, ws: Workspace, p: ProductPayload) -> list[SupportTicket]:
        return await reply(ctx, TICKET, "get_ticket", await store.list_tickets(ws.id, p.product))

    @compat("close_ticket", CloseTicketPayload, TICKET, "close_ticket")
    async def close_ticket(ctx: EventContext, ws: Workspace, p: CloseTicketPayload) -> str:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        if ticket.is_closed or await store.close_ticket(ws.id, ticket.id, now()) is None:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        closed = {"ticket_id": ticket.id}
        await push_to_visitor(deps, workspaces, ws.id, ticket.user_id, WIDGET_TICKET_CLOSED, closed)
        return await reply(ctx, TICKET, "close_ticket", "Ticket Closed")

    @compat("reopen_ticket", TicketRefPayload, TICKET, "reopen_ticket")
    async def reopen_ticket(ctx: EventContext, ws: Workspace, p: TicketRefPayload) -> SupportTicket:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        reopened = await store.reopen_ticket(ws.id, ticket.id, now()) if ticket.is_closed else None
        if reopened is None:
            raise Conflict("Ticket Already Open", {"ticket_id": ticket.id})
        return await reply(ctx, TICKET, "reopen_ticket", reopened)

    @compat("waiting_time_response", TicketRefPayload, TICKET, "waiting_time_response")
    async def waiting_time(ctx: EventContext, ws: Workspace, p: TicketRefPayload) -> dict[str, Any]:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        if ticket.is_closed:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        manager = await store.get_line_manager(ws.id, ticket.line_manager)
        ahead = await store.tickets_ahead(ticket)
        serving = manager.average_serving_time if manager else 0.0
        data = {
            "ticket_id": ticket.id,
            "line_manager": ticket.line_manager,
            "tickets_ahead": ahead,
            "average_serving_time": serving,
            "waiting_time": ahead * serving,
        }
        return await reply(ctx, TICKET, "waiting_time_response", data)

    @compat("ticket_message_event", TicketMessagePayload, MESSAGE, "send_message")
    async def ticket_message_event(ctx: EventContext, ws: Workspace, p: TicketMessagePayload) -> SupportMessage:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        if p.reply_to is not None and await store.get_message(ticket.id, p.reply_to) is None:
            raise NotFound("Reply message not found", {"reply_to": p.reply_to})
        await files.check_owned(p.attachments, None, ws.id)
        message = SupportMessage(
            id=new_id(),
            ticket_id=ticket.id,
            message_data=p.message_data,
            author=p.user_id,
            reply_to=p.reply_to,
            attachments=p.attachments,
            created_at=now(),
            product=ticket.product,
            workspace_id=ws.id,
        )
        await store.add_message(message)  # links the attachments in the same transaction, or refuses them all
        room = support_ticket_room(ticket.id, tag_of(p))
        await ctx.enter(room)
        await ctx.emit(MESSAGE, envelope(message, "success", "send_message"), to=room)
        await push_to_visitor(deps, workspaces, ws.id, ticket.user_id, WIDGET_MESSAGE, message)
        return message

    @compat("get_ticket_messages", TicketRefPayload, MESSAGE, "get_ticket_messages")
    async def get_ticket_messages(ctx: EventContext, ws: Workspace, p: TicketRefPayload) -> list[SupportMessage]:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        await ctx.enter(support_ticket_room(ticket.id, tag_of(p)))
        return await reply(ctx, MESSAGE, "get_ticket_messages", await store.list_messages(ticket.id))

    @compat("get_unread_count", ReaderPayload, MESSAGE, "get_unread_count")
    async def get_unread_count(ctx: EventContext, ws: Workspace, p: ReaderPayload) -> dict[str, Any]:
        ticket = await service.ticket(ws, p.ticket_id, p.product)
        count = await store.count_unread(ticket.id, p.user_id)
        data = {"ticket_id": ticket.id, "user_id": p.user_id, "unread_count": count}
        return await reply(ctx, MESSAGE, "get_unread_count", data)

    return router
