"""Notifications: in-app items, delivery preferences, the email/SMS outbox, and their event payloads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from models.common import Document, Identifier, Limit, NonBlank, Payload
from models.pushes import Push
from models.roles import Role


class Channel(StrEnum):
    """Where a notification can reach a user."""

    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"


class OutboxStatus(StrEnum):
    """Life of an email or SMS in the outbox."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Kind(StrEnum):
    """The notification kinds Deskline's domains send (any other name matching ``KindName`` works too)."""

    TICKET_REPLY = "ticket_reply"
    TICKET_ASSIGNED = "ticket_assigned"
    TICKET_STATUS = "ticket_status"
    YOUR_TURN_SOON = "queue.your_turn_soon"
    YOUR_TURN = "queue.your_turn"
    YOUR_TURN_MISSED = "queue.your_turn_missed"
    POOL_TICKETS_SOLD = "pool_tickets_sold"
    CALL_MISSED = "call_missed"
    BROADCAST = "broadcast"
    PASSWORD_RESET = "password_reset"
    LOGIN_CODE = "login_code"


KindName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_.]{0,59}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

DEFAULT_CHANNELS: dict[Channel, bool] = {Channel.IN_APP: True, Channel.EMAIL: True, Channel.SMS: False}
QUEUE_KINDS = (Kind.YOUR_TURN_SOON, Kind.YOUR_TURN, Kind.YOUR_TURN_MISSED)
# Queue turn emails are opt-in (the live push and the in-app item stay on): a user enables them per kind.
DEFAULT_KINDS: dict[str, dict[Channel, bool]] = {kind.value: {Channel.EMAIL: False} for kind in QUEUE_KINDS}


class Notification(Document):
    """One in-app notification of one user."""

    id: str
    user_id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any] = Field(default_factory=dict)
    read: bool = False
    created_at: datetime
    read_at: datetime | None = None


class NotificationsRead(Document):
    """Push ``notifications_read``: some (or all) of the user's notifications were marked read, on any socket."""

    ids: list[str] | None = None
    all: bool = False
    marked: int
    unread: int


NOTIFICATION = Push("notification", Notification)
NOTIFICATIONS_READ = Push("notifications_read", NotificationsRead)


class OutboxEntry(Document):
    """An outbox message's delivery state, as an administrator sees it (never the content)."""

    id: str
    channel: Channel
    recipient: str
    user_id: str | None = None
    kind: str
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = Field(0, description="tries that count towards NOTIFY_MAX_ATTEMPTS")
    deferrals: int = Field(0, description="tries that found the channel unavailable (not counted in attempts)")
    next_try_at: datetime
    last_error: str | None = None
    claimed_by: str | None = Field(None, description="the worker that holds, sent or gave up on it")
    created_at: datetime
    sent_at: datetime | None = None


class OutboxMessage(OutboxEntry):
    """An email or SMS waiting for (or past) delivery, with its content."""

    subject: str = ""
    text: str
    html: str | None = None
    sensitive: bool = False
    claim_expires_at: datetime | None = None
    provider_id: str | None = None


class NotificationPrefs(Document):
    """A user's choices: channel switches and per-kind overrides (missing entries take the defaults)."""

    channels: dict[Channel, bool] = Field(default_factory=dict)
    kinds: dict[str, dict[Channel, bool]] = Field(default_factory=dict)

    def allows(self, kind: str, channel: Channel) -> bool:
        """Return whether ``kind`` may reach the user on ``channel``."""
        if not self.channels.get(channel, DEFAULT_CHANNELS[channel]):
            return False
        switches = {**DEFAULT_KINDS.get(kind, {}), **self.kinds.get(kind, {})}
        return switches.get(channel, True)

    def merged(self, channels: dict[Channel, bool], kinds: dict[str, dict[Channel, bool] | None]) -> NotificationPrefs:
        """Return these prefs with the given switches applied (``None`` drops a kind's overrides)."""
        new_kinds = {k: dict(v) for k, v in self.kinds.items()}
        for kind, switches in kinds.items():
            if switches is None:
                new_kinds.pop(kind, None)
            else:
                new_kinds[kind] = {**new_kinds.get(kind, {}), **switches}
        return NotificationPrefs(channels={**self.channels, **channels}, kinds=new_kinds)

    def effective(self) -> dict[str, Any]:
        """Return the prefs as clients see them: every channel, every overridden or known kind."""
        kinds = {k: dict(v) for k, v in DEFAULT_KINDS.items()}
        for kind, switches in self.kinds.items():
            kinds[kind] = {**kinds.get(kind, {}), **switches}
        return {
            "channels": {c.value: self.channels.get(c, DEFAULT_CHANNELS[c]) for c in Channel},
            "kinds": {k: {c.value: on for c, on in v.items()} for k, v in sorted(kinds.items())},
            "known_kinds": [k.value for k in Kind],
        }


class ListNotificationsPayload(Payload):
    """``list_notifications``: a page of the caller's notifications, unread first, newest first."""

    cursor: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    limit: Limit = 20
    unread_only: bool = False


class MarkReadPayload(Payload):
    """``mark_notifications_read``: some of the caller's notifications, or all of them."""

    ids: Annotated[list[Identifier], Field(min_length=1, max_length=500)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> MarkReadPayload:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


ChannelSwitches = dict[Channel, bool]


class SetPrefsPayload(Payload):
    """``set_notification_prefs``: channel switches and per-kind switches to change."""

    channels: ChannelSwitches = Field(default_factory=dict)
    kinds: Annotated[dict[KindName, ChannelSwitches | None], Field(max_length=50)] = Field(default_factory=dict)


class Audience(Payload):
    """Who a broadcast goes to: listed users, or every active user of a role."""

    user_ids: Annotated[list[Identifier], Field(min_length=1, max_length=1000)] | None = None
    role: Role | None = None

    @model_validator(mode="after")
    def _one_audience(self) -> Audience:
        if (self.user_ids is None) == (self.role is None):
            raise ValueError("give either user_ids or role")
        return self


class SendNotificationPayload(Payload):
    """``send_notification`` (admin): a broadcast to users or a role on the chosen channels."""

    to: Audience
    title: Title
    body: NonBlank
    channels: Annotated[list[Channel], Field(min_length=1, max_length=3)] = Field(default_factory=lambda: list(Channel))
    kind: KindName = Kind.BROADCAST.value
    data: dict[str, Any] = Field(default_factory=dict)


class ListOutboxPayload(Payload):
    """``list_outbox`` (admin): the newest outbox messages, optionally of one status."""

    status: OutboxStatus | None = None
    limit: Limit = 50
