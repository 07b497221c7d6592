"""Notifications and the outbox on MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from models.notify import Channel, Notification, NotificationPrefs, OutboxMessage, OutboxStatus
from storage.mongo.db import MongoDatabase
from storage.notify import ListPosition

_ERASE = {"text": "", "html": None}


def _due(channels: Sequence[Channel], now: datetime) -> dict[str, Any]:
    return {
        "channel": {"$in": [c.value for c in channels]},
        "$or": [
            {"status": OutboxStatus.PENDING.value, "next_try_at": {"$lte": now}},
            {"status": OutboxStatus.SENDING.value, "claim_expires_at": {"$lte": now}},
        ],
    }


def _held(message: OutboxMessage, worker: str) -> dict[str, Any]:
    return {"_id": message.id, "claimed_by": worker, "status": OutboxStatus.SENDING.value}


def _update(sets: dict[str, Any], deferred: bool) -> dict[str, Any]:
    """Return the update that sets ``sets`` and, for a try that found the channel unavailable, moves it from
    ``attempts`` to ``deferrals``."""
    if deferred:
        return {"$set": sets, "$inc": {"attempts": -1, "deferrals": 1}}
    return {"$set": sets}


def _from_doc(model: Any, doc: dict[str, Any]) -> Any:
    return model.model_validate({**doc, "id": doc["_id"]})


class MongoNotifyStore:
    """Notifications, preferences and the outbox in MongoDB; claims are conditional updates."""

    def __init__(self, db: MongoDatabase) -> None:
        self._notes = db.db["notifications"]
        self._prefs = db.db["notification_prefs"]
        self._outbox = db.db["outbox"]

    async def init(self) -> None:
        """Create the notification indexes if missing."""
        await self._notes.create_index(
            [("user_id", ASCENDING), ("read", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        await self._outbox.create_index([("status", ASCENDING), ("next_try_at", ASCENDING)])
        await self._outbox.create_index([("status", ASCENDING), ("claim_expires_at", ASCENDING)])
        await self._outbox.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])

    async def add_notification(self, notification: Notification) -> None:
        """Store one in-app notification."""
        doc = notification.model_dump()
        doc["_id"] = doc.pop("id")
        await self._notes.insert_one(doc)

    async def list_notifications(
        self, user_id: str, after: ListPosition | None, limit: int, unread_only: bool
    ) -> list[Notification]:
        """Return up to ``limit`` of the user's notifications, unread first then newest first, after a position."""
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read"] = False
        if after is not None:
            read, stamp, last_id = after
            later = [
                {"read": read, "created_at": {"$lt": stamp}},
                {"read": read, "created_at": stamp, "_id": {"$lt": last_id}},
            ]
            query["$or"] = later if read else [{"read": True}, *later]
        order = [("read", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        cursor = self._notes.find(query).sort(order).limit(limit)
        return [_from_doc(Notification, doc) async for doc in cursor]

    async def count_unread(self, user_id: str) -> int:
        """Return how many of the user's notifications are unread."""
        return await self._notes.count_documents({"user_id": user_id, "read": False})

    async def mark_read(self, user_id: str, ids: Sequence[str] | None, now: datetime) -> int:
        """Mark the user's listed (or all) unread notifications read; return how many changed."""
        query: dict[str, Any] = {"user_id": user_id, "read": False}
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        result = await self._notes.update_many(query, {"$set": {"read": True, "read_at": now}})
        return result.modified_count

    async def get_prefs(self, user_id: str) -> NotificationPrefs:
        """Return the user's stored preferences (empty when never set)."""
        doc = await self._prefs.find_one({"_id": user_id})
        return NotificationPrefs.model_validate(doc["prefs"]) if doc else NotificationPrefs()

    async def set_prefs(self, user_id: str, prefs: NotificationPrefs, now: datetime) -> None:
        """Replace the user's preferences."""
        await self._prefs.update_one(
            {"_id": user_id}, {"$set": {"prefs": prefs.model_dump(mode="json"), "updated_at": now}}, upsert=True
        )

    async def enqueue(self, message: OutboxMessage) -> None:
        """Add one email or SMS to the outbox."""
        doc = message.model_dump(mode="python")
        doc["_id"] = doc.pop("id")
        doc["channel"] = message.channel.value
        doc["status"] = message.status.value
        await self._outbox.insert_one(doc)

    async def has_due(self, channels: Sequence[Channel], now: datetime) -> bool:
        """Return whether a message on ``channels`` is due or its claim has expired (a cheap read)."""
        return await self._outbox.find_one(_due(channels, now), {"_id": 1}) is not None

    async def claim_due(
        self, channels: Sequence[Channel], worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxMessage]:
        """Atomically claim up to ``limit`` due messages for ``worker``, one conditional update each."""
        claimed: list[OutboxMessage] = []
        while len(claimed) < limit:
            doc = await self._outbox.find_one_and_update(
                _due(channels, now),
                {
                    "$set": {
                        "status": OutboxStatus.SENDING.value,
                        "claimed_by": worker,
                        "claim_expires_at": lease_until,
                    },
                    "$inc": {"attempts": 1},
                },
                sort=[("next_try_at", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(_from_doc(OutboxMessage, doc))
        return claimed

    async def mark_sent(self, message: OutboxMessage, worker: str, now: datetime, provider_id: str | None) -> bool:
        """Record a delivery if ``worker`` still holds the claim; sensitive content is erased."""
        sets: dict[str, Any] = {
            "status": OutboxStatus.SENT.value,
            "sent_at": now,
            "provider_id": provider_id,
            "last_error": None,
            "claim_expires_at": None,
            **(_ERASE if message.sensitive else {}),
        }
        result = await self._outbox.update_one(_held(message, worker), {"$set": sets})
        return result.modified_count == 1

    async def mark_retry(
        self, message: OutboxMessage, worker: str, next_try_at: datetime, error: str, *, deferred: bool = False
    ) -> bool:
        """Put a claimed message back in line for ``next_try_at`` if ``worker`` still holds it (``deferred``:
        the channel was unavailable, so the try moves from ``attempts`` to ``deferrals``)."""
        sets = {
            "status": OutboxStatus.PENDING.value,
            "next_try_at": next_try_at,
            "last_error": error,
            "claimed_by": None,
            "claim_expires_at": None,
        }
        result = await self._outbox.update_one(_held(message, worker), _update(sets, deferred))
        return result.modified_count == 1

    async def mark_failed(self, message: OutboxMessage, worker: str, error: str, *, deferred: bool = False) -> bool:
        """Give up on a claimed message if ``worker`` still holds it; sensitive content is erased (``deferred``:
        the last try found the channel unavailable and counts as a deferral)."""
        sets = {
            "status": OutboxStatus.FAILED.value,
            "last_error": error,
            "claim_expires_at": None,
            **(_ERASE if message.sensitive else {}),
        }
        result = await self._outbox.update_one(_held(message, worker), _update(sets, deferred))
        return result.modified_count == 1

    async def get_message(self, message_id: str) -> OutboxMessage | None:
        """Return one outbox message, if any."""
        doc = await self._outbox.find_one({"_id": message_id})
        return _from_doc(OutboxMessage, doc) if doc else None

    async def list_outbox(self, status: OutboxStatus | None, limit: int) -> list[OutboxMessage]:
        """Return the newest ``limit`` outbox messages, optionally of one status."""
        query = {"status": status.value} if status else {}
        cursor = self._outbox.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_from_doc(OutboxMessage, doc) async for doc in cursor]

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many messages are pending or being sent, and when the oldest of them was queued."""
        query = {"status": {"$in": [OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]}}
        depth = await self._outbox.count_documents(query)
        if not depth:
            return 0, None
        oldest = await self._outbox.find_one(query, {"created_at": 1}, sort=[("created_at", ASCENDING)])
        return depth, oldest["created_at"] if oldest else None

    async def prune_outbox(self, before: datetime) -> int:
        """Delete messages sent or failed before ``before``; return how many."""
        result = await self._outbox.delete_many(
            {"status": {"$in": [OutboxStatus.SENT.value, OutboxStatus.FAILED.value]}, "created_at": {"$lt": before}}
        )
        return result.deleted_count
