"""Signed-in helpdesk: categories, the event payloads and pushes of tickets (the aggregate is ``models.tickets``)."""

from __future__ import annotations

from datetime import datetime
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
from models.tickets import ReadMarker, Ticket, TicketMessage, TicketStatus

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
AttachmentIds = Annotated[list[Identifier], Field(max_length=10)]


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
