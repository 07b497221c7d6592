"""Signed-in helpdesk: categories, tickets with a status workflow, chat, typing and read receipts."""

from __future__ import annotations

from typing import Any

from handlers import support as dowell
from handlers.access import SIGNED_IN, roles
from handlers.compat import Sender
from handlers.context import EventContext, SessionHook
from handlers.events import EventRouter, parse_payload
from models.errors import DesklineError, NotFound
from models.helpdesk import (
    TYPING,
    AnyMarkRead,
    Category,
    CategoryIdPayload,
    CreateCategoryPayload,
    ListTicketsPayload,
    ReassignPayload,
    SetStatusPayload,
    SubmitTicketPayload,
    TicketIdPayload,
    TicketMessagePayload,
    Typing,
    TypingPayload,
    UpdateCategoryPayload,
    WorkspaceRefPayload,
)
from models.roles import PRINCIPAL_KEY, STAFF_ROLES, Role
from models.rooms import (
    presence_room,
    ticket_room,
    workspace_admins_room,
    workspace_room,
    workspace_staff_room,
)
from models.support import ReaderPayload
from models.tickets import ReadMarker, Ticket, TicketMessage
from services.bundle import Services
from services.helpdesk import HelpdeskService
from services.presence import PresenceService

MANAGERS = roles(Role.MANAGER, Role.ADMIN)
STAFF = roles(*STAFF_ROLES)


class AnonymousDowellRead:
    """``mark_read``'s failures: an anonymous socket (only the Dowell door is open to it) also gets the envelope."""

    async def failed(self, ctx: Sender, err: DesklineError) -> None:
        """Push the Dowell failure envelope to an anonymous caller."""
        if isinstance(ctx, EventContext) and ctx.principal is None:
            await dowell.dowell_read().failed(ctx, err)

    async def succeeded(self, ctx: Sender, data: Any) -> None:
        """Nothing: the Dowell success is pushed by the handler."""


def register(router: EventRouter, services: Services) -> None:
    """Declare the signed-in helpdesk events (and the shared ``mark_read``)."""
    helpdesk = services.helpdesk

    @router.on("create_category", CreateCategoryPayload, access=MANAGERS)
    async def create_category(ctx: EventContext, p: CreateCategoryPayload) -> Category:
        return await helpdesk.create_category(ctx.require(), p.workspace_id, p.name, p.description)

    @router.on("update_category", UpdateCategoryPayload, access=MANAGERS)
    async def update_category(ctx: EventContext, p: UpdateCategoryPayload) -> Category:
        return await helpdesk.update_category(ctx.require(), p.category_id, p.name, p.description)

    @router.on("delete_category", CategoryIdPayload, access=MANAGERS)
    async def delete_category(ctx: EventContext, p: CategoryIdPayload) -> dict[str, Any]:
        return await helpdesk.delete_category(ctx.require(), p.category_id)

    @router.on("list_categories", WorkspaceRefPayload, access=SIGNED_IN)
    async def list_categories(ctx: EventContext, p: WorkspaceRefPayload) -> list[Category]:
        return await helpdesk.categories(p.workspace_id)

    @router.on("subscribe_workspace", WorkspaceRefPayload, access=STAFF)
    async def subscribe_workspace(ctx: EventContext, p: WorkspaceRefPayload) -> dict[str, Any]:
        who = ctx.require()
        if await helpdesk.may_subscribe(who, p.workspace_id):
            await ctx.enter(workspace_admins_room(p.workspace_id))
            return {"workspace_id": p.workspace_id}
        rooms = [workspace_room(p.workspace_id), workspace_staff_room(p.workspace_id, who.user_id)]
        for room in rooms:
            await ctx.enter(room)
        try:  # removed meanwhile, maybe evicted before we entered: check again once in
            await helpdesk.require_member(who, p.workspace_id)
        except DesklineError:
            for room in rooms:
                await ctx.leave(room)
            raise
        return {"workspace_id": p.workspace_id}

    @router.on("submit_ticket", SubmitTicketPayload, access=roles(Role.CLIENT))
    async def submit_ticket(ctx: EventContext, p: SubmitTicketPayload) -> Ticket:
        ticket = await helpdesk.submit(ctx.require(), p)
        await enter_ticket(ctx, ticket)
        await helpdesk.submitted(ctx.require(), ticket)
        return ticket

    @router.on("list_tickets", ListTicketsPayload, access=SIGNED_IN)
    async def list_tickets(ctx: EventContext, p: ListTicketsPayload) -> dict[str, Any]:
        return await helpdesk.list_tickets(ctx.require(), p)

    @router.on("get_ticket", TicketIdPayload, access=SIGNED_IN)
    async def get_ticket(ctx: EventContext, p: TicketIdPayload) -> dict[str, Any]:
        who = ctx.require()
        ticket = await helpdesk.ticket(who, p.ticket_id)
        presence = await enter_ticket(ctx, ticket)
        try:  # after entering too: a removal or reassignment meanwhile may have evicted before we entered
            ticket = await helpdesk.ticket(who, p.ticket_id)
        except NotFound:
            await ctx.leave(ticket_room(p.ticket_id))
            raise
        return {**await helpdesk.history(ticket), "presence": presence}

    @router.on("leave_ticket", TicketIdPayload, access=SIGNED_IN)
    async def leave_ticket(ctx: EventContext, p: TicketIdPayload) -> dict[str, Any]:
        await ctx.leave(ticket_room(p.ticket_id))
        return {"ticket_id": p.ticket_id}

    @router.on("send_ticket_message", TicketMessagePayload, access=SIGNED_IN)
    async def send_ticket_message(ctx: EventContext, p: TicketMessagePayload) -> TicketMessage:
        return await helpdesk.send(ctx.require(), p.ticket_id, p.body, p.attachments)

    @router.on("set_ticket_status", SetStatusPayload, access=SIGNED_IN)
    async def set_ticket_status(ctx: EventContext, p: SetStatusPayload) -> Ticket:
        return await helpdesk.set_status(ctx.require(), p.ticket_id, p.status)

    @router.on("reassign_ticket", ReassignPayload, access=STAFF)
    async def reassign_ticket(ctx: EventContext, p: ReassignPayload) -> Ticket:
        return await helpdesk.reassign(ctx.require(), p.ticket_id, p.assignee_id)

    @router.on("typing", TypingPayload, access=SIGNED_IN)
    async def typing(ctx: EventContext, p: TypingPayload) -> dict[str, Any]:
        who = ctx.require()
        ticket = await helpdesk.ticket(who, p.ticket_id)
        data = Typing(ticket_id=ticket.id, user_id=who.user_id, name=who.name, typing=p.typing)
        await services.emitter.push(TYPING, data, to=ticket_room(ticket.id), skip_sid=ctx.sid)
        await services.widget_live.agent_typing(ticket, who.name, p.typing)  # a widget ticket's visitor sees it too
        return {"ticket_id": ticket.id, "typing": p.typing}

    @router.on("mark_read", AnyMarkRead, compat=AnonymousDowellRead())
    async def mark_read(ctx: EventContext, p: AnyMarkRead) -> ReadMarker | dict[str, Any]:
        read = p.root
        if isinstance(read, ReaderPayload) or ctx.principal is None:  # an anonymous socket has only the key door
            return await dowell_mark_read(ctx, parse_payload(ReaderPayload, read.model_dump()))
        marker = await helpdesk.mark_read(ctx.require(), read.ticket_id, read.message_id)
        await services.widget_live.agent_read(marker)  # a widget ticket's visitor gets a read receipt
        return marker

    async def dowell_mark_read(ctx: EventContext, p: ReaderPayload) -> dict[str, Any]:
        envelope = dowell.dowell_read()
        try:
            ctx.workspace = await ctx.deps.services.workspaces.authenticate(p.workspace_id, p.api_key)
            data = await dowell.mark_read(services, ctx, p)
        except DesklineError as err:
            if ctx.principal is not None:  # an anonymous caller gets it from the declared compat
                await envelope.failed(ctx, err)
            raise
        await envelope.succeeded(ctx, data)
        return data


RESUME_TICKETS = "resume_tickets"  # session key: the ticket rooms a reconnecting socket asked back (auth.tickets)
MAX_RESUMED_TICKETS = 50


def resume_tickets(auth: Any) -> list[str]:
    """Return the ticket ids of ``auth.tickets`` (a reconnecting frontend's open tickets), at most 50."""
    wanted = auth.get("tickets") if isinstance(auth, dict) else None
    if not isinstance(wanted, list):
        return []
    return [t for t in wanted if isinstance(t, str) and 0 < len(t) <= 64][:MAX_RESUMED_TICKETS]


def ticket_rooms_restorer(sio: Any, helpdesk: HelpdeskService) -> SessionHook:
    """Return the session hook by which a signed-in socket re-enters the ticket rooms its ``auth.tickets`` names.

    After a restart the client reconnects (to another instance) with the same auth; tickets it may no longer see
    are skipped, as ``get_ticket`` would refuse them.
    """

    async def restore(sid: str, session: dict[str, Any]) -> None:
        wanted: list[str] = session.pop(RESUME_TICKETS, None) or []
        who = session.get(PRINCIPAL_KEY)
        if who is None:
            return
        for ticket_id in wanted:
            try:
                ticket = await helpdesk.ticket(who, ticket_id)
            except DesklineError:
                continue
            await sio.enter_room(sid, ticket_room(ticket.id))
            for other in (ticket.client_id, ticket.assignee_id):
                if other and other != who.user_id:
                    await sio.enter_room(sid, presence_room(other))

    return restore


async def enter_ticket(ctx: EventContext, ticket: Ticket) -> dict[str, str]:
    """Join the ticket's room and watch its other participants' presence; return their current statuses."""
    await ctx.enter(ticket_room(ticket.id))
    me = ctx.require().user_id
    others = [u for u in (ticket.client_id, ticket.assignee_id) if u and u != me]
    presence = ctx.deps.services.presence
    if not others:
        return {}
    for user_id in others:
        await ctx.enter(presence_room(user_id))
    return dict(await presence.statuses(others))


class SioRooms:
    """``services.ticket_access.SocketRooms`` over Socket.IO: a user's sockets (every instance's through presence)."""

    def __init__(self, sio: Any, presence: PresenceService) -> None:
        self.sio = sio
        self.presence = presence

    async def sockets_of(self, user_id: str) -> list[str]:
        """Return the user's signed-in socket ids on every instance (the presence registry)."""
        return list(await self.presence.sockets_of(user_id))

    async def leave(self, sid: str, room: str) -> None:
        """Take a socket (of any instance: sent over Redis) out of a room."""
        await self.sio.leave_room(sid, room)
