"""Notifications and the outbox on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from models.notify import Channel, Notification, NotificationPrefs, OutboxMessage, OutboxStatus
from storage.notify import ListPosition
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX IF NOT EXISTS notifications_user ON notifications (user_id, read, created_at, id);
CREATE TABLE IF NOT EXISTS notification_prefs (
    user_id TEXT PRIMARY KEY,
    prefs TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_id TEXT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    deferrals INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    last_error TEXT,
    claimed_by TEXT,
    claim_expires_at TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    provider_id TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_try_at);
CREATE INDEX IF NOT EXISTS outbox_claims ON outbox (status, claim_expires_at);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at, id)
"""

_NOTE_FIELDS = ("id", "user_id", "kind", "title", "body", "data", "read", "created_at", "read_at")
_OUT_FIELDS = tuple(OutboxMessage.model_fields)
_STAMPS = ("next_try_at", "claim_expires_at", "created_at", "sent_at", "read_at")
_DUE = "((status = 'pending' AND next_try_at <= ?) OR (status = 'sending' AND claim_expires_at <= ?))"
_HELD = "id = ? AND claimed_by = ? AND status = 'sending'"
_REFUND = ", attempts = attempts - 1, deferrals = deferrals + 1"  # the try found the channel unavailable


def _note(row: Any) -> Notification:
    values = dict(row)
    values["data"] = orjson.loads(values["data"])
    values["read"] = bool(values["read"])
    return Notification.model_validate(
        {**values, "created_at": from_iso(values["created_at"]), "read_at": from_iso(values["read_at"])}
    )


def _message(row: Any) -> OutboxMessage:
    values = dict(row)
    for stamp in _STAMPS:
        if stamp in values:
            values[stamp] = from_iso(values[stamp])
    values["sensitive"] = bool(values["sensitive"])
    return OutboxMessage.model_validate(values)


def _in(channels: Sequence[Channel]) -> str:
    return ", ".join("?" * len(channels))


class SqliteNotifyStore:
    """Notifications, preferences and the outbox in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the notification tables if missing."""
        await self._db.create_schema(SCHEMA)
        async with self._db.transaction() as conn:  # write-locked: two processes do not both add the column
            columns = {row["name"] for row in await tx_fetch_all(conn, "PRAGMA table_info(outbox)")}
            if "deferrals" not in columns:  # an outbox made before deferrals were counted apart
                await conn.execute("ALTER TABLE outbox ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0")

    async def add_notification(self, notification: Notification) -> None:
        """Store one in-app notification."""
        n = notification
        values = (
            n.id,
            n.user_id,
            n.kind,
            n.title,
            n.body,
            orjson.dumps(n.data).decode(),
            int(n.read),
            iso(n.created_at),
            None,
        )
        await self._db.execute(
            f"INSERT INTO notifications ({', '.join(_NOTE_FIELDS)}) VALUES ({', '.join('?' * len(_NOTE_FIELDS))})",
            values,
        )

    async def list_notifications(
        self, user_id: str, after: ListPosition | None, limit: int, unread_only: bool
    ) -> list[Notification]:
        """Return up to ``limit`` of the user's notifications, unread first then newest first, after a position."""
        where, params = ["user_id = ?"], [user_id]
        if unread_only:
            where.append("read = 0")
        if after is not None:
            read, stamp, last_id = int(after[0]), iso(after[1]), after[2]
            where.append("(read > ? OR (read = ? AND (created_at < ? OR (created_at = ? AND id < ?))))")
            params += [read, read, stamp, stamp, last_id]
        rows = await self._db.fetch_all(
            f"SELECT {', '.join(_NOTE_FIELDS)} FROM notifications WHERE {' AND '.join(where)}"
            " ORDER BY read, created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_note(r) for r in rows]

    async def count_unread(self, user_id: str) -> int:
        """Return how many of the user's notifications are unread."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = ? AND read = 0", (user_id,)
        )
        return int(row["n"]) if row else 0

    async def mark_read(self, user_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        """Mark the user's listed (or all) unread notifications read; return how many changed."""
        sql = "UPDATE notifications SET read = 1, read_at = ? WHERE user_id = ? AND read = 0"
        params: list[Any] = [iso(now), user_id]
        if ids is not None:
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params += list(ids)
        return await self._db.execute(sql, params)

    async def get_prefs(self, user_id: str) -> NotificationPrefs:
        """Return the user's stored preferences (empty when never set)."""
        row = await self._db.fetch_one("SELECT prefs FROM notification_prefs WHERE user_id = ?", (user_id,))
        return NotificationPrefs.model_validate_json(row["prefs"]) if row else NotificationPrefs()

    async def set_prefs(self, user_id: str, prefs: NotificationPrefs, now: datetime) -> None:
        """Replace the user's preferences."""
        await self._db.execute(
            "INSERT INTO notification_prefs (user_id, prefs, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs, updated_at = excluded.updated_at",
            (user_id, prefs.model_dump_json(), iso(now)),
        )

    async def enqueue(self, message: OutboxMessage) -> None:
        """Add one email or SMS to the outbox."""
        values = message.model_dump()
        for stamp in _STAMPS:
            if values.get(stamp) is not None:
                values[stamp] = iso(values[stamp])
        values["sensitive"] = int(message.sensitive)
        await self._db.execute(
            f"INSERT INTO outbox ({', '.join(_OUT_FIELDS)}) VALUES ({', '.join('?' * len(_OUT_FIELDS))})",
            [values[f] for f in _OUT_FIELDS],
        )

    async def has_due(self, channels: Sequence[Channel], now: datetime) -> bool:
        """Return whether a message on ``channels`` is due or its claim has expired (a cheap read)."""
        row = await self._db.fetch_one(
            f"SELECT 1 FROM outbox WHERE channel IN ({_in(channels)}) AND {_DUE} LIMIT 1",
            (*channels, iso(now), iso(now)),
        )
        return row is not None

    async def claim_due(
        self, channels: Sequence[Channel], worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxMessage]:
        """Atomically claim up to ``limit`` due messages for ``worker`` (one UPDATE under the write lock)."""
        async with self._db.transaction() as conn:
            rows = await tx_fetch_all(
                conn,
                "UPDATE outbox SET status = 'sending', claimed_by = ?, claim_expires_at = ?, attempts = attempts + 1"
                f" WHERE id IN (SELECT id FROM outbox WHERE channel IN ({_in(channels)}) AND {_DUE}"
                " ORDER BY next_try_at, id LIMIT ?)"
                f" RETURNING {', '.join(_OUT_FIELDS)}",
                (worker, iso(lease_until), *channels, iso(now), iso(now), limit),
            )
        return sorted((_message(r) for r in rows), key=lambda m: (m.next_try_at, m.id))

    async def mark_sent(self, message: OutboxMessage, worker: str, now: datetime, provider_id: str | None) -> bool:
        """Record a delivery if ``worker`` still holds the claim; sensitive content is erased."""
        erase = ", text = '', html = NULL" if message.sensitive else ""
        changed = await self._db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, provider_id = ?, last_error = NULL,"
            f" claim_expires_at = NULL{erase} WHERE {_HELD}",
            (iso(now), provider_id, message.id, worker),
        )
        return changed == 1

    async def mark_retry(
        self, message: OutboxMessage, worker: str, next_try_at: datetime, error: str, *, deferred: bool = False
    ) -> bool:
        """Put a claimed message back in line for ``next_try_at`` if ``worker`` still holds it (``deferred``:
        the channel was unavailable, so the try moves from ``attempts`` to ``deferrals``)."""
        refund = _REFUND if deferred else ""
        changed = await self._db.execute(
            "UPDATE outbox SET status = 'pending', next_try_at = ?, last_error = ?, claimed_by = NULL,"
            f" claim_expires_at = NULL{refund} WHERE {_HELD}",
            (iso(next_try_at), error, message.id, worker),
        )
        return changed == 1

    async def mark_failed(self, message: OutboxMessage, worker: str, error: str, *, deferred: bool = False) -> bool:
        """Give up on a claimed message if ``worker`` still holds it; sensitive content is erased (``deferred``:
        the last try found the channel unavailable and counts as a deferral)."""
        erase = ", text = '', html = NULL" if message.sensitive else ""
        refund = _REFUND if deferred else ""
        changed = await self._db.execute(
            f"UPDATE outbox SET status = 'failed', last_error = ?, claim_expires_at = NULL{erase}{refund}"
            f" WHERE {_HELD}",
            (error, message.id, worker),
        )
        return changed == 1

    async def get_message(self, message_id: str) -> OutboxMessage | None:
        """Return one outbox message, if any."""
        row = await self._db.fetch_one(f"SELECT {', '.join(_OUT_FIELDS)} FROM outbox WHERE id = ?", (message_id,))
        return _message(row) if row else None

    async def list_outbox(self, status: OutboxStatus | None, limit: int) -> list[OutboxMessage]:
        """Return the newest ``limit`` outbox messages, optionally of one status."""
        where, params = ("WHERE status = ?", [status.value]) if status else ("", [])
        rows = await self._db.fetch_all(
            f"SELECT {', '.join(_OUT_FIELDS)} FROM outbox {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [_message(r) for r in rows]

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many messages are pending or being sent, and when the oldest of them was queued."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE status IN ('pending', 'sending')"
        )
        if row is None or not row["n"]:
            return 0, None
        return int(row["n"]), from_iso(row["oldest"])

    async def prune_outbox(self, before: datetime) -> int:
        """Delete messages sent or failed before ``before``; return how many."""
        return await self._db.execute(
            "DELETE FROM outbox WHERE status IN ('sent', 'failed') AND created_at < ?", (iso(before),)
        )
