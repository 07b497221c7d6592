"""The widget visitor's use cases: who a widget caller is, open a conversation, read, write and wait in their own.

The widget token alone identifies the workspace and allows nothing but opening a conversation; every read or
write needs the visitor (their secret, or an identifier the site signed with HMAC). Credential hashing and
comparison live in ``auth.widget_tokens``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from auth.widget_tokens import credential_tag, new_visitor_secret
from auth.workspace_keys import room_tag
from models.clock import Clock
from models.errors import Conflict, NotFound
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
from models.widget import WIDGET_MESSAGE, VisitorRecord, WidgetAuth, WidgetCaller, WidgetMessage
from models.workspaces import WorkspaceRecord
from services.attachments import AttachmentService
from services.emitter import Emitter
from services.widget_access import VISITOR_PREFIX, authenticate_widget, still_valid
from storage.accounts import AccountStore
from storage.database import new_id
from storage.line_managers import LineManagerStore
from storage.tickets import TicketStore
from storage.visitors import VisitorStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.widget")


class AuthorCards(Protocol):
    """The display name and picture URL of a message author (``services.profiles.ProfileService``)."""

    async def card(self, user_id: str) -> tuple[str, str | None] | None:
        """Return ``(name, picture_url)`` of an account, or None when ``user_id`` is no account."""
        ...


class WidgetService:
    """Visitor actions through the public widget token, scoped to the visitor's own tickets."""

    def __init__(
        self,
        workspaces: WorkspaceStore,
        visitors: VisitorStore,
        tickets: TicketStore,
        line: LineManagerStore,
        files: AttachmentService,
        users: AccountStore,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.workspaces = workspaces
        self.visitors = visitors
        self.tickets = tickets
        self.line = line
        self.files = files
        self.users = users
        self.emitter = emitter
        self.clock = clock
        self.authors: AuthorCards | None = None  # connected in wiring.py: who answered, as visitors see them
        # told when a widget or Dowell ticket is created or changes status (wiring: the helpdesk's ``door_changed``)
        self.ticket_hooks: list[Callable[[str, str], Awaitable[None]]] = []
        # told of every message of the support side pushed to a visitor (wiring: the emailed replies)
        self.reply_hooks: list[Callable[[WidgetMessage, str], Awaitable[None]]] = []

    async def ticket_changed(self, ticket_id: str, change: str) -> None:
        """Tell the hooks that a widget or Dowell ticket was ``created`` or changed ``status``."""
        for hook in self.ticket_hooks:
            await hook(ticket_id, change)

    async def authenticate(self, auth: WidgetAuth, origin: str | None) -> WidgetCaller:
        """Return who a widget socket is (token, page origin, visitor credentials)."""
        return await authenticate_widget(self.workspaces, self.visitors, auth, origin)

    async def visitor_of(self, workspace_id: str, visitor_id: str) -> VisitorRecord:
        """Return the record of a visitor the widget credentials authenticated; ``NotFound`` if it is gone."""
        return await self.visitors.get(workspace_id, visitor_id)

    async def still_valid(self, caller: WidgetCaller) -> WorkspaceRecord:
        """Return the caller's workspace while its credentials are current; ``Unauthorized`` otherwise."""
        return await still_valid(self.workspaces, caller)

    async def push_to_visitor(self, workspace_id: str, visitor_id: str, push: Push[Any], payload: Any) -> None:
        """Push to the visitor's sockets that connected with the workspace's current widget token (a support-side
        message with its author's name, and the reply hooks are told of it)."""
        record = await self.workspaces.find(workspace_id)
        if record is None or record.widget_token is None:
            return
        if push is WIDGET_MESSAGE:
            payload = (await self.named([payload], visitor_id))[0]
        tag = credential_tag("token", record.widget_token)
        await self.emitter.push(push, payload, to=widget_visitor_room(workspace_id, visitor_id, tag))
        if push is WIDGET_MESSAGE and payload.author != visitor_id:
            for hook in self.reply_hooks:
                await hook(payload, visitor_id)

    async def named(self, messages: list[SupportMessage], visitor_id: str | None) -> list[WidgetMessage]:
        """Return the messages as the visitor sees them: each staff author's display name and profile picture."""
        cards: dict[str, tuple[str | None, str | None]] = {visitor_id: (None, None)} if visitor_id else {}
        for message in messages:
            if message.author not in cards:
                cards[message.author] = await self.author_card(message.author)
        return [
            WidgetMessage.model_validate(
                {
                    **m.model_dump(exclude={"author_name", "author_picture"}),
                    "author_name": cards[m.author][0],
                    "author_picture": cards[m.author][1],
                }
            )
            for m in messages
        ]

    async def author_card(self, user_id: str) -> tuple[str | None, str | None]:
        """Return an author's display name and picture URL; ``(None, None)`` for an id that is no account."""
        if self.authors is not None:
            return await self.authors.card(user_id) or (None, None)
        try:
            return (await self.users.get_user(user_id)).name, None
        except NotFound:
            return None, None  # a Dowell line manager id, not an account

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

    async def open(
        self, record: WorkspaceRecord, visitor_id: str, product: str, email: str | None = None
    ) -> SupportTicket:
        """Open a ticket for the visitor and tell the workspace's Dowell support room; keep ``email`` for replies."""
        opened = await self.tickets.open_ticket(line_ticket(new_id(), record.id, visitor_id, product, self.clock()))
        if opened is None:
            raise NotFound("No Line Manager found for this Workspace")
        ticket = dowell_ticket(opened)
        if email is not None:
            await self.visitors.set_email(record.id, visitor_id, email)
        room = support_workspace_room(record.id, room_tag(record.key_hash))
        await self.emitter.push(NEW_TICKET, NewTicket(data=ticket.model_dump(mode="json")), to=room)
        await self.ticket_changed(ticket.id, "created")
        return ticket

    async def conversations(self, record: WorkspaceRecord, visitor_id: str | None) -> list[SupportTicket]:
        """Return the visitor's tickets, oldest first (none before the first ``widget_open``)."""
        if visitor_id is None:
            return []
        return [dowell_ticket(t) for t in await self.tickets.list_line_tickets(record.id, client_id=visitor_id)]

    async def messages(self, record: WorkspaceRecord, visitor_id: str, ticket_id: str) -> list[WidgetMessage]:
        """Return the messages of one of the visitor's tickets, with the names of the staff who wrote them."""
        ticket = await self.own_ticket(record.id, visitor_id, ticket_id)
        return await self.named([dowell_message(m) for m in await self.tickets.list_messages(ticket.id)], visitor_id)

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
        client_id: str | None = None,
    ) -> SupportMessage:
        """Post the visitor's message (and their own uploads) in one of their open tickets.

        A ``client_id`` sent again (a resend after a lost ack) answers the message stored the first time.
        """
        ticket = await self.own_ticket(record.id, visitor_id, ticket_id)
        message_id = new_id()
        if client_id is not None:
            first = await self.visitors.claim_send(record.id, visitor_id, client_id, message_id)
            if first != message_id:
                return await self.sent_before(ticket, first)
        try:
            return await self._post(caller, record, visitor_id, sid, ticket, message_id, text, reply_to, attachments)
        except BaseException:
            if client_id is not None:
                await self.visitors.release_send(record.id, visitor_id, client_id, message_id)
            raise

    async def sent_before(self, ticket: SupportTicket, message_id: str) -> SupportMessage:
        """Return the message a client id was first stored as; ``Conflict`` while that first send is unfinished."""
        message = await self.tickets.get_message(ticket.id, message_id)
        if message is None:
            raise Conflict("this message is still being sent; retry", {"ticket_id": ticket.id})
        return dowell_message(message)

    async def _post(
        self,
        caller: WidgetCaller,
        record: WorkspaceRecord,
        visitor_id: str,
        sid: str,
        ticket: SupportTicket,
        message_id: str,
        text: str,
        reply_to: str | None,
        attachments: list[str],
    ) -> SupportMessage:
        if ticket.is_closed:
            raise Conflict("Ticket is closed", {"ticket_id": ticket.id})
        if reply_to is not None and await self.tickets.get_message(ticket.id, reply_to) is None:
            raise NotFound("Reply message not found", {"reply_to": reply_to})
        await self.files.check_owned(attachments, visitor_id, record.id)
        message = SupportMessage(
            id=message_id,
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
        await self.emitter.push(WIDGET_MESSAGE, WidgetMessage(**message.model_dump()), to=own, skip_sid=sid)
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
