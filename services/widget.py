"""The widget visitor's use cases: who a widget caller is, open a conversation, read, write and wait in their own.

The widget token alone identifies the workspace and allows nothing but opening a conversation; every read or
write needs the visitor (their secret, or an identifier the site signed with HMAC). Credential hashing and
comparison live in ``auth.widget_tokens``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from auth.widget_tokens import credential_tag, hash_secret, identifier_verified, new_visitor_secret, same_token
from auth.workspace_keys import room_tag
from models.clock import Clock
from models.errors import Conflict, Forbidden, NotFound, Unauthorized
from models.helpdesk import TICKET_MESSAGE, signed_in_view
from models.pushes import Push
from models.rooms import support_ticket_room, support_workspace_room, ticket_room, widget_visitor_room
from models.support import (
    NEW_TICKET,
    TICKET_MESSAGE_RESPONSE,
    NewTicket,
    SupportMessage,
    SupportTicket,
    dowell_message,
    dowell_record,
    dowell_ticket,
    line_ticket,
)
from models.tickets import Ticket
from models.widget import SESSION_KEY, WIDGET_MESSAGE, VisitorRecord, WidgetAuth, WidgetCaller
from models.workspaces import WorkspaceRecord
from services.attachments import AttachmentService
from services.emitter import Emitter
from storage.database import new_id
from storage.line_managers import LineManagerStore
from storage.tickets import TicketStore
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.widget")

INVALID_TOKEN = "Invalid widget token"
NO_VISITOR = "open a conversation first, or connect with your visitor_secret"
VISITOR_PREFIX = "visitor-"


async def authenticate_widget(
    workspaces: WorkspaceStore, visitors: VisitorStore, auth: WidgetAuth, origin: str | None
) -> WidgetCaller:
    """Check the token, the page's origin and the visitor credentials; raise ``Unauthorized``/``Forbidden``."""
    record = await workspaces.find_by_widget_token(auth.widget_token)
    if record is None or not same_token(record.widget_token, auth.widget_token):
        raise Unauthorized(INVALID_TOKEN)
    if record.widget_origins and (origin or "").rstrip("/").lower() not in record.widget_origins:
        raise Forbidden("this site may not embed the widget", {"origin": origin})
    caller = WidgetCaller(workspace_id=record.id, token_tag=credential_tag("token", auth.widget_token))
    if auth.identifier is not None or auth.identifier_hash is not None:
        if auth.identifier is None or auth.identifier_hash is None:
            raise Unauthorized("send both identifier and identifier_hash")
        if not identifier_verified(record.identity_secret, auth.identifier, auth.identifier_hash):
            raise Unauthorized("identifier_hash does not verify this identifier")
        assert record.identity_secret is not None
        caller.identifier = auth.identifier
        caller.identity_tag = credential_tag("identity", record.identity_secret)
        found = await visitors.find_by_identifier(record.id, auth.identifier)
        caller.visitor_id = found.id if found else None
    elif auth.visitor_secret is not None:
        visitor = await visitors.find_by_secret(record.id, hash_secret(auth.visitor_secret))
        if visitor is None:
            raise Unauthorized("Invalid visitor secret")
        caller.visitor_id = visitor.id
    return caller


async def still_valid(workspaces: WorkspaceStore, caller: WidgetCaller) -> WorkspaceRecord:
    """Return the caller's workspace if its token (and identity secret) are still current; else ``Unauthorized``."""
    record = await workspaces.find(caller.workspace_id)
    if (
        record is None
        or record.widget_token is None
        or credential_tag("token", record.widget_token) != caller.token_tag
    ):
        raise Unauthorized("the widget token was rotated or the workspace deleted; reconnect with the new token")
    if caller.identity_tag is not None and (
        record.identity_secret is None or credential_tag("identity", record.identity_secret) != caller.identity_tag
    ):
        raise Unauthorized("the identity secret was rotated; reconnect with a new identifier_hash")
    return record


async def session_visitor(workspaces: WorkspaceStore, session: dict[str, Any]) -> WidgetCaller | None:
    """Return the visitor of a widget socket's session; None for a socket that did not connect as a widget.

    ``Unauthorized`` when its token was rotated (or workspace deleted) or it has no visitor yet (token alone).
    """
    caller: WidgetCaller | None = session.get(SESSION_KEY)
    if caller is None:
        return None
    await still_valid(workspaces, caller)
    if caller.visitor_id is None:
        raise Unauthorized(NO_VISITOR)
    return caller


class WidgetService:
    """Visitor actions through the public widget token, scoped to the visitor's own tickets."""

    def __init__(
        self,
        workspaces: WorkspaceStore,
        visitors: VisitorStore,
        tickets: TicketStore,
        line: LineManagerStore,
        files: AttachmentService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.workspaces = workspaces
        self.visitors = visitors
        self.tickets = tickets
        self.line = line
        self.files = files
        self.emitter = emitter
        self.clock = clock
        # told when a widget or Dowell ticket is created or changes status (wiring: the helpdesk's ``door_changed``)
        self.ticket_hooks: list[Callable[[str, str], Awaitable[None]]] = []

    async def ticket_changed(self, ticket_id: str, change: str) -> None:
        """Tell the hooks that a widget or Dowell ticket was ``created`` or changed ``status``."""
        for hook in self.ticket_hooks:
            await hook(ticket_id, change)

    async def authenticate(self, auth: WidgetAuth, origin: str | None) -> WidgetCaller:
        """Return who a widget socket is (token, page origin, visitor credentials)."""
        return await authenticate_widget(self.workspaces, self.visitors, auth, origin)

    async def still_valid(self, caller: WidgetCaller) -> WorkspaceRecord:
        """Return the caller's workspace while its credentials are current; ``Unauthorized`` otherwise."""
        return await still_valid(self.workspaces, caller)

    async def push_to_visitor(self, workspace_id: str, visitor_id: str, push: Push[Any], payload: Any) -> None:
        """Push to the visitor's sockets that connected with the workspace's current widget token."""
        record = await self.workspaces.find(workspace_id)
        if record is None or record.widget_token is None:
            return
        tag = credential_tag("token", record.widget_token)
        await self.emitter.push(push, payload, to=widget_visitor_room(workspace_id, visitor_id, tag))

    async def answered(self, message: SupportMessage, visitor_id: str | None) -> None:
        """Push a message written at another door to the ticket's Dowell room of the current key and, for a
        visitor's ticket, to the visitor's widget (exactly what a Dowell answer pushes)."""
        record = await self.workspaces.find(message.workspace_id)
        if record is None:
            return
        data = {"data": message.model_dump(mode="json"), "status": "success", "operation": "send_message"}
        await self.emitter.push(
            TICKET_MESSAGE_RESPONSE, data, to=support_ticket_room(message.ticket_id, room_tag(record.key_hash))
        )
        if visitor_id is not None:
            await self.push_to_visitor(message.workspace_id, visitor_id, WIDGET_MESSAGE, message)

    async def own_document(self, workspace_id: str, visitor_id: str, ticket_id: str) -> Ticket:
        """Return the visitor's ticket document; another visitor's (or any other) ticket is ``NotFound``."""
        ticket = await self.tickets.get_line_ticket(workspace_id, ticket_id)
        if ticket is None or ticket.client_id != visitor_id:
            raise NotFound("Ticket not found", {"ticket_id": ticket_id})
        return ticket

    async def own_ticket(self, workspace_id: str, visitor_id: str, ticket_id: str) -> SupportTicket:
        """Return the Dowell view of the visitor's ticket; another visitor's (or any other) ticket is ``NotFound``."""
        return dowell_ticket(await self.own_document(workspace_id, visitor_id, ticket_id))

    def check_product(self, record: WorkspaceRecord, product: str) -> None:
        """Raise unless the workspace sells ``product`` (any product when it lists none)."""
        if record.products and product not in record.products:
            raise NotFound(f"Product {product} not found in this Workspace")

    async def new_visitor(self, caller: WidgetCaller, record: WorkspaceRecord) -> tuple[str | None, str]:
        """Create the caller's visitor; return (its secret, or None for a verified customer known already, id).

        The caller's ``visitor_id`` is set; the handler serialises this per socket and enters the new rooms.
        """
        secret: str | None
        secret, secret_hash = new_visitor_secret()
        fresh = VisitorRecord(
            id=VISITOR_PREFIX + new_id(),
            workspace_id=record.id,
            identifier=caller.identifier,
            secret_hash=secret_hash,
            created_at=self.clock(),
        )
        stored = await self.visitors.add(fresh)
        if stored.id != fresh.id:
            secret = None  # the verified customer already has a visitor (another device): no new secret
        caller.visitor_id = stored.id
        log.info("event=widget_visitor workspace=%s visitor=%s", record.id, stored.id)
        return secret, stored.id

    async def open(self, record: WorkspaceRecord, visitor_id: str, product: str) -> SupportTicket:
        """Open a ticket for the visitor and tell the workspace's Dowell support room."""
        opened = await self.tickets.open_ticket(line_ticket(new_id(), record.id, visitor_id, product, self.clock()))
        if opened is None:
            raise NotFound("No Line Manager found for this Workspace")
        ticket = dowell_ticket(opened)
        room = support_workspace_room(record.id, room_tag(record.key_hash))
        await self.emitter.push(NEW_TICKET, NewTicket(data=ticket.model_dump(mode="json")), to=room)
        await self.ticket_changed(ticket.id, "created")
        return ticket

    async def conversations(self, record: WorkspaceRecord, visitor_id: str | None) -> list[SupportTicket]:
        """Return the visitor's tickets, oldest first (none before the first ``widget_open``)."""
        if visitor_id is None:
            return []
        return [dowell_ticket(t) for t in await self.tickets.list_line_tickets(record.id, client_id=visitor_id)]

    async def messages(self, record: WorkspaceRecord, visitor_id: str, ticket_id: str) -> list[SupportMessage]:
        """Return the messages of one of the visitor's tickets."""
        ticket = await self.own_ticket(record.id, visitor_id, ticket_id)
        return [dowell_message(m) for m in await self.tickets.list_messages(ticket.id)]

    async def send(
        self,
        caller: WidgetCaller,
        record: WorkspaceRecord,
        visitor_id: str,
        sid: str,
        ticket_id: str,
        text: str,
        reply_to: str | None,
        attachments: list[str],
    ) -> SupportMessage:
        """Post the visitor's message (and their own uploads) in one of their open tickets."""
        ticket = await self.own_ticket(record.id, visitor_id, ticket_id)
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        if reply_to is not None and await self.tickets.get_message(ticket.id, reply_to) is None:
            raise NotFound("Reply message not found", {"reply_to": reply_to})
        await self.files.check_owned(attachments, visitor_id, record.id)
        message = SupportMessage(
            id=new_id(),
            ticket_id=ticket.id,
            message_data=text,
            author=visitor_id,
            reply_to=reply_to,
            attachments=attachments,
            created_at=self.clock(),
            product=ticket.product,
            workspace_id=record.id,
        )
        await self.tickets.add_message(dowell_record(message), uploader_id=visitor_id)
        agents = support_ticket_room(ticket.id, room_tag(record.key_hash))
        data = {"data": message.model_dump(mode="json"), "status": "success", "operation": "send_message"}
        await self.emitter.push(TICKET_MESSAGE_RESPONSE, data, to=agents)
        own = widget_visitor_room(record.id, visitor_id, caller.token_tag)
        await self.emitter.push(WIDGET_MESSAGE, message, to=own, skip_sid=sid)
        await self.emitter.push(TICKET_MESSAGE, signed_in_view(message), to=ticket_room(ticket.id))
        return message

    async def waiting_time(self, record: WorkspaceRecord, visitor_id: str, ticket_id: str) -> dict[str, Any]:
        """Return how many tickets are ahead of the visitor's open ticket and the estimated wait in minutes."""
        document = await self.own_document(record.id, visitor_id, ticket_id)
        ticket = dowell_ticket(document)
        if ticket.is_closed:
            raise Conflict("Ticket Already Closed", {"ticket_id": ticket.id})
        manager = await self.line.get(record.id, ticket.line_manager)
        ahead = await self.tickets.tickets_ahead(document)
        serving = manager.average_serving_time if manager else 0.0
        return {"ticket_id": ticket.id, "tickets_ahead": ahead, "waiting_time": ahead * serving}
