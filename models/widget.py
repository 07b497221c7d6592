"""The public support widget: its per-workspace settings, visitors and the visitor events' payloads."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

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
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]  # the widget's own message id


def normalise_origin(value: str) -> str:
    """Return a site origin as browsers send it (``scheme://host[:port]``, lower case); refuse anything else."""
    origin = value.strip().rstrip("/").lower()
    if not ORIGIN.match(origin):
        raise ValueError("an origin is scheme://host[:port], e.g. https://shop.example.com")
    return origin


Origin = Annotated[str, AfterValidator(normalise_origin)]


DEFAULT_COLOR = "#2557d6"
HEX_COLOR = re.compile(r"^#([0-9a-f]{3}|[0-9a-f]{6})$")
MIN_CONTRAST = 4.5  # WCAG AA for normal text: the widget writes white text on the workspace's colour


def contrast_with_white(color: str) -> float:
    """Return the WCAG contrast ratio of white text on ``color`` (``#rgb`` or ``#rrggbb``)."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def readable_color(value: str) -> str:
    """Return a hex colour (lower case) on which white text reaches contrast AA; refuse anything else."""
    color = value.strip().lower()
    if not HEX_COLOR.match(color):
        raise ValueError("a colour is #rgb or #rrggbb, e.g. #2557d6")
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"white text on {color} has contrast {ratio:.2f}:1, below the 4.5:1 of WCAG AA; use a darker colour"
        )
    return color


Color = Annotated[str, AfterValidator(readable_color)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class WidgetAppearance(Document):
    """How the widget looks for a workspace: its colour (white text on it) and its panel title (None: default)."""

    color: str = DEFAULT_COLOR
    title: str | None = None


class WidgetSettings(Document):
    """What staff see of a workspace's widget: the public token, allowed origins, whether identity is on, looks."""

    workspace_id: str
    widget_token: str
    allowed_origins: list[str] = Field(default_factory=list, description="empty: any site may embed the widget")
    identity_verification: bool = False
    color: str = DEFAULT_COLOR
    title: str | None = None


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
    """``update_widget_settings``: the site origins allowed to embed the widget (empty: any), its colour and title.

    A field left out keeps its value; ``title: ""`` goes back to the widget's default title.
    """

    workspace_id: Identifier
    allowed_origins: Annotated[list[Origin], Field(max_length=50)] | None = None
    color: Color | None = None
    title: Title | Literal[""] | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WidgetOpenPayload(Payload):
    """``widget_open``: start a conversation about ``product``; ``email`` (left while no agent is online) gets
    the agents' replies by email."""

    product: Short
    email: EmailStr | None = None


class WidgetTicketPayload(Payload):
    """``widget_messages`` / ``widget_waiting_time``: one of the visitor's own conversations."""

    ticket_id: Identifier


class WidgetSendPayload(Payload):
    """``widget_send``: a message in one of the visitor's own conversations."""

    ticket_id: Identifier
    message_data: Text
    reply_to: Identifier | None = None
    attachments: Annotated[list[Identifier], Field(max_length=10)] = Field(default_factory=list)
    client_id: ClientId | None = None

    @field_validator("attachments")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class WidgetTypingPayload(Payload):
    """``widget_typing``: the visitor started or stopped typing in one of their conversations."""

    ticket_id: Identifier
    typing: StrictBool


class WidgetReadPayload(Payload):
    """``widget_mark_read``: the last message of their conversation the visitor has read."""

    ticket_id: Identifier
    message_id: Identifier


class WidgetRatePayload(Payload):
    """``widget_rate``: the visitor rates a closed conversation of theirs, 1 to 5, with an optional comment."""

    ticket_id: Identifier
    score: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""


class TicketIdPayload(Payload):
    """``get_ticket_rating``: a ticket the signed-in caller may see."""

    ticket_id: Identifier


class WidgetStatus(Document):
    """The answer to ``widget_status``: whether a staff member of the workspace is online, and the widget's looks."""

    agents_online: bool
    appearance: WidgetAppearance


class WidgetMessage(SupportMessage):
    """Push ``widget_message``: a message of the visitor's ticket, with the display name of a staff author and,
    when they have one, their profile picture's URL."""

    author_name: str | None = None
    author_picture: str | None = Field(None, exclude_if=lambda value: value is None)


class TicketRating(Document):
    """A visitor's rating of a closed conversation (push ``ticket_rated`` and ``get_ticket_rating``'s answer)."""

    ticket_id: str
    workspace_id: str
    visitor_id: str
    score: int
    comment: str = ""
    created_at: datetime


class WidgetAgentTyping(Document):
    """Push ``widget_agent_typing``: a signed-in agent started or stopped typing in the visitor's ticket."""

    ticket_id: str
    name: str
    typing: bool


class WidgetRead(Document):
    """Push ``widget_read``: an agent read the visitor's messages up to ``message_id``."""

    ticket_id: str
    message_id: str
    at: datetime


class WidgetWait(Document):
    """Push ``widget_wait_changed``: the visitor's place in the line moved (a ticket ahead closed or reopened)."""

    ticket_id: str
    tickets_ahead: int
    waiting_time: float


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


WIDGET_MESSAGE = Push("widget_message", WidgetMessage)
WIDGET_TICKET_CLOSED = Push("widget_ticket_closed", WidgetTicketClosed)
WIDGET_AGENT_TYPING = Push("widget_agent_typing", WidgetAgentTyping)
WIDGET_READ = Push("widget_read", WidgetRead)
WIDGET_WAIT_CHANGED = Push("widget_wait_changed", WidgetWait)
TICKET_RATED = Push("ticket_rated", TicketRating)
