"""The embeddable support widget: its script (GET /widget.js), its sockets' connect and the visitor events.

Widget sockets connect with ``auth: {widget_token, visitor_secret?, identifier?, identifier_hash?}``
(``handlers.connection`` hands that over to ``connect_widget``). The token alone allows ``widget_open``
only; the other events act on the visitor's own tickets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from socketio.exceptions import ConnectionRefusedError as Refused

from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from handlers.widget_auth import SESSION_KEY, authenticate_widget
from handlers.widget_service import WidgetService, enter_widget_rooms
from models.errors import DesklineError, Unauthorized
from models.support import SupportMessage, SupportTicket
from models.widget import WidgetAuth, WidgetOpenPayload, WidgetSendPayload, WidgetTicketPayload
from storage.support import make_support_store
from storage.visitors import make_visitor_store

log = logging.getLogger("deskline.widget")

PATH = "/widget.js"
SCRIPT = Path(__file__).resolve().parent.parent / "widget" / "deskline-widget.js"


def add_routes(app: web.Application) -> None:
    """Serve the widget script; browsers may cache it for five minutes."""
    app.router.add_get(PATH, widget_script)


async def widget_script(request: web.Request) -> web.StreamResponse:
    """Return the widget's JavaScript."""
    response = web.FileResponse(SCRIPT, headers={"Cache-Control": "public, max-age=300"})
    response.content_type = "text/javascript"
    return response


def is_widget_auth(auth: Any) -> bool:
    """Return whether a connect's ``auth`` is a widget's (it names a widget token)."""
    return isinstance(auth, dict) and "widget_token" in auth


async def connect_widget(deps: Deps, sid: str, session: dict[str, Any], environ: dict[str, Any], auth: Any) -> None:
    """Authenticate a widget socket (token, Origin, visitor) and enter its rooms; refuse with the error code."""
    try:
        try:
            parsed = WidgetAuth.model_validate(auth)
        except ValidationError as exc:
            raise Unauthorized("auth must be {widget_token, visitor_secret?, identifier?, identifier_hash?}") from exc
        workspaces, visitors = deps.services.workspaces.store, make_visitor_store(deps.db)
        caller = await authenticate_widget(workspaces, visitors, parsed, environ.get("HTTP_ORIGIN"))
    except DesklineError as err:
        log.info("event=connect sid=%s kind=widget code=%s reason=%s", sid, err.code, err.message)
        raise Refused(err.message, {"code": str(err.code)}) from err
    session[SESSION_KEY] = caller
    await enter_widget_rooms(sid, deps, caller)
    log.info("event=connect sid=%s kind=widget workspace=%s visitor=%s", sid, caller.workspace_id, caller.visitor_id)


async def setup(deps: Deps) -> EventRouter:
    """Create the visitor store and register the widget visitor events."""
    visitors = make_visitor_store(deps.db)
    await visitors.init()
    service = WidgetService(deps, deps.services.workspaces.store, visitors, make_support_store(deps.db))
    router = EventRouter(deps)

    @router.on("widget_open", WidgetOpenPayload)
    async def widget_open(ctx: EventContext, p: WidgetOpenPayload) -> dict[str, Any]:
        return await service.open(ctx, p)

    @router.on("widget_conversations")
    async def widget_conversations(ctx: EventContext, _: Any) -> list[SupportTicket]:
        return await service.conversations(ctx)

    @router.on("widget_messages", WidgetTicketPayload)
    async def widget_messages(ctx: EventContext, p: WidgetTicketPayload) -> list[SupportMessage]:
        return await service.messages(ctx, p)

    @router.on("widget_send", WidgetSendPayload)
    async def widget_send(ctx: EventContext, p: WidgetSendPayload) -> SupportMessage:
        return await service.send(ctx, p)

    @router.on("widget_waiting_time", WidgetTicketPayload)
    async def widget_waiting_time(ctx: EventContext, p: WidgetTicketPayload) -> dict[str, Any]:
        return await service.waiting_time(ctx, p)

    return router
