"""The ticket aggregate, whichever door a ticket came in by: its document, status workflow, messages, read markers.

The door-specific shapes are views of these documents: the signed-in one is the document itself, the Dowell/widget
one is built by the Dowell adapter (``services.support``, ``models.support``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from models.common import Document


class TicketStatus(StrEnum):
    """Where a ticket is in its life."""

    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE = frozenset({TicketStatus.OPEN, TicketStatus.PENDING})
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


SIGNED_IN_DOOR = "signed_in"
DOWELL_DOOR = "dowell"
WIDGET_DOOR = "widget"


class Ticket(Document):
    """A ticket, whichever door it came in by: ``door`` is ``signed_in`` (a client's, filed under a category),
    ``dowell`` (opened with the workspace key) or ``widget`` (a visitor's); the last two name a ``product``, no
    category, and their conversation is in the messages (empty ``title`` and ``body``)."""

    id: str
    workspace_id: str
    category_id: str | None = None
    client_id: str
    title: str
    body: str
    attachments: list[str] = Field(default_factory=list)
    status: TicketStatus = TicketStatus.OPEN
    assignee_id: str | None = None
    created_at: datetime
    updated_at: datetime
    door: str = SIGNED_IN_DOOR
    product: str | None = None


class TicketMessage(Document):
    """A message in a ticket's conversation."""

    id: str
    ticket_id: str
    author_id: str
    author_role: str
    body: str
    attachments: list[str] = Field(default_factory=list)
    created_at: datetime


class MessageRecord(Document):
    """A stored message of a ticket, whichever door it was written at (one history per ticket).

    Its views are built by the doors' adapters: ``signed_in_message`` (the signed-in ``TicketMessage``) and
    ``models.support.dowell_message`` (the Dowell ``SupportMessage``, with ``reply_to`` and the per-message
    ``is_read`` flag); ``workspace_id`` and ``product`` are the ticket's when it was written.
    """

    id: str
    ticket_id: str
    workspace_id: str | None = None
    product: str | None = None
    author_id: str
    author_role: str
    body: str
    reply_to: str | None = None
    attachments: list[str] = Field(default_factory=list)
    is_read: bool = False
    created_at: datetime


LINE_ROLES = frozenset({"dowell", "visitor"})  # the author roles of messages written at a line door


def signed_in_record(message: TicketMessage) -> MessageRecord:
    """Return the record a signed-in user's message is stored as (the store adds the ticket's workspace and
    product)."""
    return MessageRecord.model_validate(message.model_dump())


def signed_in_message(record: MessageRecord) -> TicketMessage:
    """Return the signed-in view of a stored message."""
    return TicketMessage(
        id=record.id,
        ticket_id=record.ticket_id,
        author_id=record.author_id,
        author_role=record.author_role,
        body=record.body,
        attachments=record.attachments,
        created_at=record.created_at,
    )


class ReadMarker(Document):
    """The last message of a ticket a user has read."""

    ticket_id: str
    user_id: str
    message_id: str
    message_at: datetime
    at: datetime


@dataclass(frozen=True)
class Handover:
    """A ticket that changed hands because its assignee left the workspace: as it is now, and who held it."""

    ticket: Ticket
    previous: str


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets a caller may list, and the filters they asked for.

    With ``agent_id``: only tickets of the workspaces in ``agent_scopes`` (the agent's memberships, each
    with its categories, empty meaning all), assigned to the agent or open in their categories.
    """

    client_id: str | None = None
    workspace_ids: list[str] | None = None
    agent_id: str | None = None
    agent_scopes: dict[str, list[str]] = field(default_factory=dict)
    status: TicketStatus | None = None
    category_id: str | None = None
    assignee_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
