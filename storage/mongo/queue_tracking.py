"""Which offices a signed-in user tracks, on MongoDB, so tracking survives reconnects on any instance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from storage.mongo.db import MongoDatabase

DUPLICATE_KEY = 11000


def tracking_id(user_id: str, ref: str) -> str:
    """Return the document id of one (user, office) tracking."""
    return f"{user_id}#{ref}"


class MongoTrackingStore:
    """A user's tracked offices: one document per (user, office)."""

    def __init__(self, db: MongoDatabase) -> None:
        self._tracking: AsyncCollection[dict[str, Any]] = db.db["queue_tracking"]

    async def init(self) -> None:
        """Create the tracking index if missing."""
        await self._tracking.create_index("user_id")

    async def track(self, user_id: str, refs: list[str], now: datetime) -> None:
        """Remember that ``user_id`` tracks ``refs`` (already tracked ones are kept as they were)."""
        upserts = [
            UpdateOne(
                {"_id": tracking_id(user_id, ref)},
                {"$setOnInsert": {"user_id": user_id, "ref_office": ref, "since": now}},
                upsert=True,
            )
            for ref in refs
        ]
        if not upserts:
            return
        try:
            await self._tracking.bulk_write(upserts, ordered=False)
        except BulkWriteError as exc:  # two sockets of the user raced on the same upsert: the row exists, fine
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def untrack(self, user_id: str, refs: list[str]) -> None:
        """Forget that ``user_id`` tracks ``refs``."""
        await self._tracking.delete_many({"_id": {"$in": [tracking_id(user_id, ref) for ref in refs]}})

    async def tracked_by(self, user_id: str) -> list[str]:
        """Return the references ``user_id`` tracks, sorted."""
        return sorted([d["ref_office"] async for d in self._tracking.find({"user_id": user_id})])
