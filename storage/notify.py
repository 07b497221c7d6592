"""Notification repository: in-app notifications, preferences and the email/SMS outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from models.errors import InvalidPayload
from models.notify import Channel, Notification, NotificationPrefs, OutboxMessage, OutboxStatus
from storage.cursor import decode_cursor, encode_cursor
from storage.database import Database

# A position in the "unread first, newest first" order: (read, created_at, id).
ListPosition = tuple[bool, datetime, str]


class NotifyStore(Protocol):
    """Domain operations on notifications and the outbox."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def add_notification(self, notification: Notification) -> None:
        """Store one in-app notification."""

    async def list_notifications(
        self, user_id: str, after: ListPosition | None, limit: int, unread_only: bool
    ) -> list[Notification]:
        """Return up to ``limit`` of the user's notifications, unread first then newest first, after a position."""

    async def count_unread(self, user_id: str) -> int:
        """Return how many of the user's notifications are unread."""

    async def mark_read(self, user_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        """Mark the user's listed (or all) unread notifications read; return how many changed."""

    async def get_prefs(self, user_id: str) -> NotificationPrefs:
        """Return the user's stored preferences (empty when never set)."""

    async def set_prefs(self, user_id: str, prefs: NotificationPrefs, now: datetime) -> None:
        """Replace the user's preferences."""

    async def enqueue(self, message: OutboxMessage) -> None:
        """Add one email or SMS to the outbox."""

    async def has_due(self, channels: Sequence[Channel], now: datetime) -> bool:
        """Return whether a message on ``channels`` is due or its claim has expired (a cheap read)."""

    async def claim_due(
        self, channels: Sequence[Channel], worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxMessage]:
        """Atomically claim up to ``limit`` due messages for ``worker`` (attempts + 1); no two workers get one."""

    async def mark_sent(self, message: OutboxMessage, worker: str, now: datetime, provider_id: str | None) -> bool:
        """Record a delivery (and who made it) if ``worker`` still holds the claim; sensitive content is erased."""

    async def mark_retry(
        self, message: OutboxMessage, worker: str, next_try_at: datetime, error: str, *, deferred: bool = False
    ) -> bool:
        """Put a claimed message back in line for ``next_try_at`` if ``worker`` still holds it.

        ``deferred``: the channel was unavailable, so this try moves from ``attempts`` to ``deferrals``.
        """

    async def mark_failed(self, message: OutboxMessage, worker: str, error: str, *, deferred: bool = False) -> bool:
        """Give up on a claimed message if ``worker`` still holds it; sensitive content is erased.

        ``deferred``: this last try found the channel unavailable, so it counts as a deferral, not an attempt.
        """

    async def get_message(self, message_id: str) -> OutboxMessage | None:
        """Return one outbox message, if any."""

    async def list_outbox(self, status: OutboxStatus | None, limit: int) -> list[OutboxMessage]:
        """Return the newest ``limit`` outbox messages, optionally of one status."""

    async def prune_outbox(self, before: datetime) -> int:
        """Delete messages sent or failed before ``before``; return how many."""

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many messages are pending or being sent, and when the oldest of them was queued."""


def encode_position(position: ListPosition) -> str:
    """Return an opaque cursor for a position in the notification list (the read flag rides before the id)."""
    read, created_at, item_id = position
    return encode_cursor(created_at, f"{int(read)}{item_id}")


def decode_position(cursor: str) -> ListPosition:
    """Return the position a cursor names; raise ``InvalidPayload`` if it is not ours."""
    created_at, flagged_id = decode_cursor(cursor)
    if flagged_id[:1] not in ("0", "1") or len(flagged_id) < 2:
        raise InvalidPayload("cursor is not valid", {"cursor": cursor})
    return flagged_id[0] == "1", created_at, flagged_id[1:]


def make_notify_store(db: Database) -> NotifyStore:
    """Return the notification store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.notify import MongoNotifyStore

        return MongoNotifyStore(db)  # type: ignore[arg-type]
    from storage.sqlite.notify import SqliteNotifyStore

    return SqliteNotifyStore(db)  # type: ignore[arg-type]
