"""Dowell-compatible support tickets: topics, line managers, tickets and their chat messages.

Documents serialise their id as ``_id``, as the Dowell (MongoDB-backed) server sent them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from models.common import CompatPayload, Document
from models.pushes import Push
from models.tickets import MessageRecord, Ticket, TicketStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ApiKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _no_bool(value: Any) -> Any:
    """Refuse booleans where a number is expected (pydantic would read True as 1)."""
    if isinstance(value, bool):
        raise ValueError("a number is required")
    return value


def _blank_is_none(value: Any) -> Any:
    """Read the old clients' "no reply" spellings ("", "None", "null") as no value."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null")):
        return None
    return value


Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=1_000_000)]
Minutes = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, le=1_000_000)]
OptionalRef = Annotated[Ref | None, BeforeValidator(_blank_is_none)]


class KeyedPayload(CompatPayload):
    """Every support payload names its workspace and carries the workspace's API key."""

    workspace_id: Ref
    api_key: ApiKey


class CreateTopicPayload(KeyedPayload):
    """``create_topic``."""

    name: Short
    created_at: Any = None


class CreateLineManagerPayload(KeyedPayload):
    """``create_line_manager``."""

    user_id: Ref
    positions_in_a_line: Count
    average_serving_time: Minutes
    ticket_count: Count = 0
    created_at: Any = None


class CreateTicketPayload(KeyedPayload):
    """``create_ticket``."""

    user_id: Ref
    product: Short
    created_at: Any = None


class ProductPayload(KeyedPayload):
    """``get_tickets``."""

    product: Short


class CloseTicketPayload(KeyedPayload):
    """``close_ticket``; ``line_manager`` is accepted but the stored one is what counts."""

    ticket_id: Ref
    product: Short
    line_manager: Ref | None = None


class TicketRefPayload(KeyedPayload):
    """``reopen_ticket``, ``get_ticket_messages``, ``waiting_time_response``."""

    ticket_id: Ref
    product: Short | None = None


class TicketMessagePayload(KeyedPayload):
    """``ticket_message_event``."""

    ticket_id: Ref
    product: Short
    message_data: Text
    user_id: Ref
    reply_to: OptionalRef = None
    attachments: Annotated[list[Ref], Field(max_length=10)] = Field(default_factory=list)
    created_at: Any = None

    @field_validator("attachments")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ReaderPayload(KeyedPayload):
    """``get_unread_count`` / ``mark_read``: one reader of one ticket."""

    ticket_id: Ref
    user_id: Ref
    product: Short | None = None


class SupportDocument(Document):
    """Base of stored support documents: ``id`` goes out as ``_id``."""

    model_config = ConfigDict(extra="ignore", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    id: str = Field(alias="_id")


class Topic(SupportDocument):
    """A topic of a workspace (name upper-cased, spaces as underscores)."""

    name: str
    workspace_id: str
    created_at: datetime


class LineManager(SupportDocument):
    """A line manager tickets are shared between."""

    user_id: str
    positions_in_a_line: int
    average_serving_time: float
    ticket_count: int
    workspace_id: str
    created_at: datetime


class SupportTicket(SupportDocument):
    """A support ticket, in the exact shape old clients parse."""

    user_id: str
    line_manager: str
    is_closed: bool = False
    created_at: datetime
    updated_at: datetime
    product: str
    workspace_id: str


def dowell_ticket(ticket: Ticket) -> SupportTicket:
    """Return the Dowell/widget view of a ticket document (``client_id`` as ``user_id``, ``assignee_id`` as
    ``line_manager``, ``is_closed`` for the closed status)."""
    return SupportTicket(
        id=ticket.id,
        user_id=ticket.client_id,
        line_manager=ticket.assignee_id or "",
        is_closed=ticket.status == TicketStatus.CLOSED,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        product=ticket.product or "",
        workspace_id=ticket.workspace_id,
    )


def line_door(user_id: str) -> str:
    """Return the door a ticket of the Dowell shape came in by: ``widget`` for a visitor, else ``dowell``."""
    return "widget" if user_id.startswith("visitor-") else "dowell"


def line_ticket(ticket_id: str, workspace_id: str, client_id: str, product: str, now: datetime) -> Ticket:
    """Return the document of a new ticket opened at a line door (Dowell key or widget visitor) for ``product``;
    the store gives it its line manager."""
    return Ticket(
        id=ticket_id,
        workspace_id=workspace_id,
        client_id=client_id,
        title="",
        body="",
        created_at=now,
        updated_at=now,
        door=line_door(client_id),
        product=product,
    )


def document_of(ticket: SupportTicket) -> Ticket:
    """Return the ticket document a Dowell/widget-shaped ticket (an exported one) is stored as."""
    return Ticket(
        id=ticket.id,
        workspace_id=ticket.workspace_id,
        client_id=ticket.user_id,
        title="",
        body="",
        status=TicketStatus.CLOSED if ticket.is_closed else TicketStatus.OPEN,
        assignee_id=ticket.line_manager,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        door=line_door(ticket.user_id),
        product=ticket.product,
    )


class SupportMessage(SupportDocument):
    """A chat message of a support ticket (never holds the API key).

    Dowell's shape has no ``attachments``: the key only appears on messages that have some.
    """

    document_type: str = "chat"
    ticket_id: str
    message_data: str
    author: str
    reply_to: str | None = None
    attachments: list[str] = Field(default_factory=list, exclude_if=lambda ids: not ids)
    is_read: bool = False
    created_at: datetime
    product: str
    workspace_id: str


def normalise_topic(name: str) -> str:
    """Return a topic name as Dowell stored it: upper case, spaces as underscores."""
    return "_".join(name.upper().split())


class DowellResponse(Document):
    """Pushes ``setting_response``, ``ticket_response``, ``ticket_message_response``: the Dowell envelope.

    ``data`` is already JSON-ready (documents dumped with their ``_id``), or the failure sentence.
    """

    data: Any
    status: str
    operation: str


class NewTicket(Document):
    """Push ``new_ticket``: a ticket was opened in the workspace (to its Dowell support room)."""

    data: Any
    status: str = "success"


SETTING_RESPONSE = Push("setting_response", DowellResponse)
TICKET_RESPONSE = Push("ticket_response", DowellResponse)
TICKET_MESSAGE_RESPONSE = Push("ticket_message_response", DowellResponse)
NEW_TICKET = Push("new_ticket", NewTicket)


def dowell_message(record: MessageRecord) -> SupportMessage:
    """Return the Dowell/widget view of a stored message (``author``, ``message_data``, ``is_read``...)."""
    return SupportMessage(
        id=record.id,
        ticket_id=record.ticket_id,
        message_data=record.body,
        author=record.author_id,
        reply_to=record.reply_to,
        attachments=record.attachments,
        is_read=record.is_read,
        created_at=record.created_at,
        product=record.product or "",
        workspace_id=record.workspace_id or "",
    )


def dowell_record(message: SupportMessage) -> MessageRecord:
    """Return the record a message written at a line door is stored as (``author_role`` ``visitor`` for a widget
    visitor, else ``dowell``)."""
    return MessageRecord(
        id=message.id,
        ticket_id=message.ticket_id,
        workspace_id=message.workspace_id,
        product=message.product,
        author_id=message.author,
        author_role="visitor" if line_door(message.author) == "widget" else "dowell",
        body=message.message_data,
        reply_to=message.reply_to,
        attachments=message.attachments,
        is_read=message.is_read,
        created_at=message.created_at,
    )
