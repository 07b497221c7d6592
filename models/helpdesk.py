"""Signed-in helpdesk: categories, tickets with a status workflow, their messages and read markers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    RootModel,
    StrictBool,
    StringConstraints,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from models.common import Document, Identifier, Limit, Name, Payload
from models.pushes import Push
from models.support import ReaderPayload, SupportMessage

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
AttachmentIds = Annotated[list[Identifier], Field(max_length=10)]


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


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


CATEGORY_KIND = "category"
TOPIC_KIND = "topic"  # a Dowell topic (``create_topic``): a category too, listed by ``get_all_topics``


class Category(Document):
    """A category of a workspace that tickets are filed under (``kind`` ``topic``: a Dowell topic)."""

    id: str
    workspace_id: str
    kind: Literal["category", "topic"] = CATEGORY_KIND
    name: str
    description: str = ""
    created_at: datetime
    updated_at: datetime


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


class CreateCategoryPayload(Payload):
    """``create_category`` (manager of the workspace, admin)."""

    workspace_id: Identifier
    name: Name
    description: Description = ""


class UpdateCategoryPayload(Payload):
    """``update_category``: rename or re-describe."""

    category_id: Identifier
    name: Name | None = None
    description: Description | None = None


class CategoryIdPayload(Payload):
    """A payload naming one category."""

    category_id: Identifier


class WorkspaceRefPayload(Payload):
    """A payload naming one workspace."""

    workspace_id: Identifier


class SubmitTicketPayload(Payload):
    """``submit_ticket`` (client): a new ticket in a category."""

    category_id: Identifier
    title: Title
    body: Body
    attachments: AttachmentIds = Field(default_factory=list)

    _dedupe = field_validator("attachments")(_unique)


class TicketIdPayload(Payload):
    """A payload naming one ticket."""

    ticket_id: Identifier


class ListTicketsPayload(Payload):
    """``list_tickets``: the caller's visible tickets, newest first, with filters."""

    workspace_id: Identifier | None = None
    status: TicketStatus | None = None
    category_id: Identifier | None = None
    assignee_id: Identifier | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    cursor: str | None = None
    limit: Limit = 50


class TicketMessagePayload(Payload):
    """``send_ticket_message``: a reply in a ticket."""

    ticket_id: Identifier
    body: Body
    attachments: AttachmentIds = Field(default_factory=list)

    _dedupe = field_validator("attachments")(_unique)


class SetStatusPayload(Payload):
    """``set_ticket_status``."""

    ticket_id: Identifier
    status: TicketStatus


class ReassignPayload(Payload):
    """``reassign_ticket``: give the ticket to a staff member of its workspace."""

    ticket_id: Identifier
    assignee_id: Identifier


class TypingPayload(Payload):
    """``typing``: start or stop the typing indicator in a ticket."""

    ticket_id: Identifier
    typing: StrictBool


class MarkReadPayload(Payload):
    """``mark_read`` (signed in): the last message of the ticket the caller has read."""

    ticket_id: Identifier
    message_id: Identifier


READ_DOORS = ("key", "signed_in")


def read_door(value: Any) -> str:
    """Which ``mark_read`` a payload is: the Dowell one carries the workspace ``api_key``."""
    return "key" if isinstance(value, dict) and "api_key" in value else "signed_in"


class AnyMarkRead(
    RootModel[
        Annotated[
            Annotated[ReaderPayload, Tag("key")] | Annotated[MarkReadPayload, Tag("signed_in")],
            Discriminator(read_door),
        ]
    ]
):
    """``mark_read``, one name for two doors: with ``api_key`` the Dowell read of a support ticket
    (``ReaderPayload``), else the signed-in read receipt (``MarkReadPayload``)."""

    @model_validator(mode="wrap")
    @classmethod
    def _name_fields_as_sent(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Report field errors as the chosen door's model does (without the union's tag in their path)."""
        try:
            return handler(value)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for error in errors:
                if error["loc"] and error["loc"][0] in READ_DOORS:
                    error["loc"] = error["loc"][1:]
            raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]


class TicketUpdated(Document):
    """Push ``ticket_updated``: a ticket was created, or its status or assignee changed."""

    ticket: Ticket
    change: str


class TicketMessagePush(Document):
    """Push ``ticket_message``: a new message in a ticket."""

    ticket_id: str
    message: TicketMessage


class Typing(Document):
    """Push ``typing``: someone in the ticket started or stopped typing."""

    ticket_id: str
    user_id: str
    name: str
    typing: bool


TICKET_UPDATED = Push("ticket_updated", TicketUpdated)
TICKET_MESSAGE = Push("ticket_message", TicketMessagePush)
TYPING = Push("typing", Typing)
TICKET_READ = Push("ticket_read", ReadMarker)


def signed_in_view(message: SupportMessage) -> TicketMessagePush:
    """Return the ``ticket_message`` push of a message written at the Dowell or widget door."""
    role = "visitor" if message.author.startswith("visitor-") else "dowell"
    said = TicketMessage(
        id=message.id,
        ticket_id=message.ticket_id,
        author_id=message.author,
        author_role=role,
        body=message.message_data,
        attachments=message.attachments,
        created_at=message.created_at,
    )
    return TicketMessagePush(ticket_id=message.ticket_id, message=said)


def dowell_view(ticket: Ticket, message: TicketMessage) -> SupportMessage:
    """Return the Dowell shape of a message a signed-in user wrote in a Dowell or widget ticket."""
    return SupportMessage(
        id=message.id,
        ticket_id=ticket.id,
        message_data=message.body,
        author=message.author_id,
        attachments=message.attachments,
        created_at=message.created_at,
        product=ticket.product or "",
        workspace_id=ticket.workspace_id,
    )
