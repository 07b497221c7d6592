"""The embeddable support widget: its script (GET /widget.js), its sockets' connect and the visitor events.

Widget sockets connect with ``auth: {widget_token, visitor_secret?, identifier?, identifier_hash?}``
(``handlers.connection`` hands that over to ``connect_widget``). The token alone allows ``widget_open``
only; the other events act on the visitor's own tickets.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from socketio.exceptions import ConnectionRefusedError as Refused

from handlers.access import SIGNED_IN, WIDGET_VISITOR
from handlers.assets import Asset, add_asset, served_socket_io, with_socket_io
from handlers.context import Deps, EventContext
from handlers.events import EventRouter, NoPayload
from models.errors import DesklineError, Unauthorized
from models.rooms import widget_identity_room, widget_visitor_room, widget_workspace_room
from models.support import SupportMessage, SupportTicket
from models.tickets import ReadMarker
from models.widget import (
    SESSION_KEY,
    TicketIdPayload,
    TicketRating,
    WidgetAuth,
    WidgetCaller,
    WidgetMessage,
    WidgetOpenPayload,
    WidgetRatePayload,
    WidgetReadPayload,
    WidgetSendPayload,
    WidgetStatus,
    WidgetTicketPayload,
    WidgetTypingPayload,
)
from models.workspaces import WorkspaceRecord
from services.bundle import Services
from services.widget_access import NO_VISITOR

log = logging.getLogger("deskline.widget")

PATH = "/widget.js"
SCRIPT = Path(__file__).resolve().parent.parent / "widget" / "deskline-widget.js"
OPEN_GUARD = "widget_open_guard"


def add_routes(app: web.Application) -> None:
    """Serve the widget script and the socket.io-client bundle it loads (ETag, gzip, versioned URLs)."""
    add_asset(app, PATH, widget_asset(served_socket_io(app)))


def widget_asset(socket_io: Asset) -> Asset:
    """The widget's JavaScript, pointing at the versioned path of the socket.io-client bundle served beside it."""
    script = with_socket_io(SCRIPT.read_text(encoding="utf-8"), socket_io)
    return Asset.of("widget.js", script.encode())


def is_widget_auth(auth: Any) -> bool:
    """Return whether a connect's ``auth`` is a widget's (it names a widget token)."""
    return isinstance(auth, dict) and "widget_token" in auth


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


async def connect_widget(deps: Deps, sid: str, session: dict[str, Any], environ: dict[str, Any], auth: Any) -> None:
    """Authenticate a widget socket (token, Origin, visitor) and enter its rooms; refuse with the error code."""
    try:
        try:
            parsed = WidgetAuth.model_validate(auth)
        except ValidationError as exc:
            raise Unauthorized("auth must be {widget_token, visitor_secret?, identifier?, identifier_hash?}") from exc
        caller = await deps.services.widget.authenticate(parsed, environ.get("HTTP_ORIGIN"))
    except DesklineError as err:
        log.info("event=connect sid=%s kind=widget code=%s reason=%s", sid, err.code, err.message)
        raise Refused(err.message, {"code": str(err.code)}) from err
    session[SESSION_KEY] = caller
    await enter_widget_rooms(sid, deps, caller)
    log.info("event=connect sid=%s kind=widget workspace=%s visitor=%s", sid, caller.workspace_id, caller.visitor_id)


def register(router: EventRouter, services: Services) -> None:
    """Declare the widget visitor events (and the staff's ``get_ticket_rating``)."""
    widget, live = services.widget, services.widget_live

    async def caller_of(ctx: EventContext) -> tuple[WidgetCaller, WorkspaceRecord]:
        """Return the socket's widget caller and workspace; a revoked credential ends the socket."""
        caller: WidgetCaller = ctx.session[SESSION_KEY]
        try:
            return caller, await widget.still_valid(caller)
        except Unauthorized:
            ctx.session.pop(SESSION_KEY, None)  # never again on this socket, even if the token came back
            await ctx.deps.sio.disconnect(ctx.sid)
            raise

    async def visitor_of(ctx: EventContext) -> tuple[WidgetCaller, WorkspaceRecord, str]:
        """Like ``caller_of`` but the socket must be a known visitor (the widget token alone sees nothing)."""
        caller, record = await caller_of(ctx)
        if caller.visitor_id is None:
            raise Unauthorized(NO_VISITOR)
        return caller, record, caller.visitor_id

    @router.on("widget_open", WidgetOpenPayload, access=WIDGET_VISITOR)
    async def widget_open(ctx: EventContext, p: WidgetOpenPayload) -> dict[str, Any]:
        caller, record = await caller_of(ctx)
        widget.check_product(record, p.product)
        # One socket gets one visitor even when its widget_open events run concurrently: they queue on a lock
        # kept in the socket's session (it guards only this socket's own session state; a socket lives in one
        # process, so no database constraint is needed).
        guard: asyncio.Lock = ctx.session.setdefault(OPEN_GUARD, asyncio.Lock())  # no await before: one lock
        secret: str | None = None
        async with guard:
            if caller.visitor_id is None:
                secret, _ = await widget.new_visitor(caller, record)
                await enter_widget_rooms(ctx.sid, ctx.deps, caller)
        assert caller.visitor_id is not None
        ticket = await widget.open(record, caller.visitor_id, p.product, p.email)
        answer: dict[str, Any] = {"visitor_id": caller.visitor_id, "ticket": ticket}
        if secret is not None:
            answer["visitor_secret"] = secret
        return answer

    @router.on("widget_conversations", NoPayload, access=WIDGET_VISITOR)
    async def widget_conversations(ctx: EventContext, _: NoPayload) -> list[SupportTicket]:
        caller, record = await caller_of(ctx)
        return await widget.conversations(record, caller.visitor_id)

    @router.on("widget_messages", WidgetTicketPayload, access=WIDGET_VISITOR)
    async def widget_messages(ctx: EventContext, p: WidgetTicketPayload) -> list[WidgetMessage]:
        _, record, visitor_id = await visitor_of(ctx)
        return await widget.messages(record, visitor_id, p.ticket_id)

    @router.on("widget_send", WidgetSendPayload, access=WIDGET_VISITOR)
    async def widget_send(ctx: EventContext, p: WidgetSendPayload) -> SupportMessage:
        caller, record, visitor_id = await visitor_of(ctx)
        return await widget.send(
            caller, record, visitor_id, ctx.sid, p.ticket_id, p.message_data, p.reply_to, p.attachments, p.client_id
        )

    @router.on("widget_waiting_time", WidgetTicketPayload, access=WIDGET_VISITOR)
    async def widget_waiting_time(ctx: EventContext, p: WidgetTicketPayload) -> dict[str, Any]:
        _, record, visitor_id = await visitor_of(ctx)
        return await widget.waiting_time(record, visitor_id, p.ticket_id)

    @router.on("widget_status", NoPayload, access=WIDGET_VISITOR)
    async def widget_status(ctx: EventContext, _: NoPayload) -> WidgetStatus:
        _, record = await caller_of(ctx)
        return await live.status(record)

    @router.on("widget_typing", WidgetTypingPayload, access=WIDGET_VISITOR)
    async def widget_typing(ctx: EventContext, p: WidgetTypingPayload) -> dict[str, Any]:
        _, record, visitor_id = await visitor_of(ctx)
        await live.visitor_typing(record, visitor_id, p.ticket_id, p.typing)
        return {"ticket_id": p.ticket_id, "typing": p.typing}

    @router.on("widget_mark_read", WidgetReadPayload, access=WIDGET_VISITOR)
    async def widget_mark_read(ctx: EventContext, p: WidgetReadPayload) -> ReadMarker:
        _, record, visitor_id = await visitor_of(ctx)
        return await live.visitor_read(record, visitor_id, p.ticket_id, p.message_id)

    @router.on("widget_rate", WidgetRatePayload, access=WIDGET_VISITOR)
    async def widget_rate(ctx: EventContext, p: WidgetRatePayload) -> TicketRating:
        _, record, visitor_id = await visitor_of(ctx)
        return await live.rate(record, visitor_id, p.ticket_id, p.score, p.comment)

    @router.on("get_ticket_rating", TicketIdPayload, access=SIGNED_IN)
    async def get_ticket_rating(ctx: EventContext, p: TicketIdPayload) -> TicketRating:
        return await live.rating(await services.helpdesk.ticket(ctx.require(), p.ticket_id))
