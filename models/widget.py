"""The public support widget: its per-workspace settings, visitors and the visitor events' payloads."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.common import Document, Identifier, Payload
from models.pushes import Push
from models.support import SupportMessage

WIDGET_TOKEN_PREFIX = "wt_"


def new_widget_token() -> str:
    """Return a fresh public widget token (``wt_`` + 43 url-safe characters)."""
    return WIDGET_TOKEN_PREFIX + secrets.token_urlsafe(32)


ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def normalise_origin(value: str) -> str:
    """Return a site origin as browsers send it (``scheme://host[:port]``, lower case); refuse anything else."""
    origin = value.strip().rstrip("/").lower()
    if not ORIGIN.match(origin):
        raise ValueError("an origin is scheme://host[:port], e.g. https://shop.example.com")
    return origin


Origin = Annotated[str, AfterValidator(normalise_origin)]


class WidgetSettings(Document):
    """What staff see of a workspace's widget: the public token, allowed origins, whether identity is on."""

    workspace_id: str
    widget_token: str
    allowed_origins: list[str] = Field(default_factory=list, description="empty: any site may embed the widget")
    identity_verification: bool = False


class IdentitySecret(Document):
    """The answer to ``rotate_identity_secret``: the only time the secret is shown."""

    workspace_id: str
    identity_secret: str


class Visitor(Document):
    """A widget visitor of one workspace; ``identifier`` is set when the site verified who they are."""

    id: str
    workspace_id: str
    identifier: str | None = None
    created_at: datetime


class VisitorRecord(Visitor):
    """A stored visitor with the SHA-256 of its secret; stays inside the server."""

    secret_hash: str


class WidgetAuth(BaseModel):
    """The ``auth`` object a widget socket connects with."""

    model_config = ConfigDict(extra="forbid")

    widget_token: Secret
    visitor_secret: Secret | None = None
    identifier: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    identifier_hash: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class UpdateWidgetSettingsPayload(Payload):
    """``update_widget_settings``: the site origins allowed to embed the widget (empty: any)."""

    workspace_id: Identifier
    allowed_origins: Annotated[list[Origin], Field(max_length=50)]

    @field_validator("allowed_origins")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WidgetOpenPayload(Payload):
    """``widget_open``: start a conversation about ``product``."""

    product: Short


class WidgetTicketPayload(Payload):
    """``widget_messages`` / ``widget_waiting_time``: one of the visitor's own conversations."""

    ticket_id: Identifier


class WidgetSendPayload(Payload):
    """``widget_send``: a message in one of the visitor's own conversations."""

    ticket_id: Identifier
    message_data: Text
    reply_to: Identifier | None = None
    attachments: Annotated[list[Identifier], Field(max_length=10)] = Field(default_factory=list)

    @field_validator("attachments")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


SESSION_KEY = "widget"  # where a widget socket's ``WidgetCaller`` is kept in its Socket.IO session


@dataclass
class WidgetCaller:
    """A widget socket's or request's identity: the workspace, the credentials' tags, the visitor if known."""

    workspace_id: str
    token_tag: str
    identifier: str | None = None
    identity_tag: str | None = None
    visitor_id: str | None = None


class WidgetTicketClosed(Document):
    """Push ``widget_ticket_closed``: one of the visitor's conversations was closed by the support side."""

    ticket_id: str


class WidgetMessage(SupportMessage):
    """Push ``widget_message``: a message of the visitor's ticket; a staff answer written from a signed-in
    console also names its author (display name, and picture URL when they have one)."""

    author_name: str | None = Field(None, exclude_if=lambda value: value is None)
    author_picture: str | None = Field(None, exclude_if=lambda value: value is None)


WIDGET_MESSAGE = Push("widget_message", WidgetMessage)
WIDGET_TICKET_CLOSED = Push("widget_ticket_closed", WidgetTicketClosed)
