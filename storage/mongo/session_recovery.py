"""Connection-state recovery on MongoDB: offsets from one counter document, visible in offset order.

A packet's offset is taken (``$inc`` of the counter) and the packet inserted in one transaction. A second writer's
``$inc`` conflicts with the first until the first commits (``with_transaction`` retries it), so offset ``n`` is
committed only after every offset below it: a reader that moves its cursor past ``n`` has seen them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.session_recovery import RequestClaim, SavedSession, StoredPacket
from storage.mongo.db import MongoDatabase

COUNTER_ID = "resume_packets"


class MongoSessionRecoveryStore:
    """Persisted broadcasts, dropped sessions and retried requests in MongoDB."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._packets = db.db["resume_packets"]
        self._counters = db.db["resume_counters"]
        self._sessions = db.db["resume_sessions"]
        self._requests = db.db["resume_requests"]

    async def init(self) -> None:
        """Create the recovery indexes if missing."""
        await self._packets.create_index([("rooms", ASCENDING), ("_id", ASCENDING)])
        await self._packets.create_index("at")
        await self._sessions.create_index("expires_at")
        await self._requests.create_index("expires_at")
        try:  # the counter exists before any writer: concurrent first upserts would race
            await self._counters.update_one({"_id": COUNTER_ID}, {"$setOnInsert": {"n": 0}}, upsert=True)
        except DuplicateKeyError:
            pass

    async def add_packet(self, data: str, rooms: list[str], skip: list[str], at: datetime) -> int:
        """Persist one broadcast under the next value of the offset counter, both in one transaction."""

        async def attempt(session: AsyncClientSession) -> int:
            counter: Any = await self._counters.find_one_and_update(
                {"_id": COUNTER_ID}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER, session=session
            )
            offset = int(counter["n"])
            packet = {"_id": offset, "data": data, "rooms": rooms, "skip": skip, "at": at}
            await self._packets.insert_one(packet, session=session)
            return offset

        return await self._db.transaction(attempt)

    async def last_offset(self) -> int:
        """Return the greatest offset handed out so far (0 if none)."""
        counter = await self._counters.find_one({"_id": COUNTER_ID})
        return int(counter["n"]) if counter else 0

    async def packets_after(self, offset: int, rooms: list[str], sid: str) -> list[StoredPacket]:
        """Return the packets after ``offset`` sent to any of ``rooms`` (or to everyone), not skipping ``sid``."""
        query = {"_id": {"$gt": offset}, "$or": [{"rooms": {"$in": rooms}}, {"rooms": []}], "skip": {"$ne": sid}}
        cursor = self._packets.find(query).sort("_id", ASCENDING)
        return [StoredPacket(int(d["_id"]), d["data"], list(d["rooms"]), list(d["skip"])) async for d in cursor]

    async def save_session(self, session: SavedSession, expires_at: datetime) -> None:
        """Keep a dropped socket's session until ``expires_at``."""
        body = {**session.__dict__, "expires_at": expires_at}
        body.pop("pid")
        await self._sessions.replace_one({"_id": session.pid}, body, upsert=True)

    async def take_session(self, pid: str, now: datetime) -> SavedSession | None:
        """Delete and return the live session of ``pid`` (one find_one_and_delete: taken at most once)."""
        doc = await self._sessions.find_one_and_delete({"_id": pid, "expires_at": {"$gt": now}})
        if doc is None:
            return None
        fields = {k: v for k, v in doc.items() if k not in ("_id", "expires_at")}
        return SavedSession(pid=pid, **fields)

    async def kept_sessions(self, now: datetime) -> list[tuple[SavedSession, datetime]]:
        """Return every live kept session with its expiry."""
        found = []
        async for doc in self._sessions.find({"expires_at": {"$gt": now}}):
            until: datetime = doc["expires_at"]
            fields = {k: v for k, v in doc.items() if k not in ("_id", "expires_at")}
            found.append((SavedSession(pid=doc["_id"], **fields), until if until.tzinfo else until.replace(tzinfo=UTC)))
        return found

    async def claim_request(self, pid: str, key: str, expires_at: datetime) -> RequestClaim:
        """Insert the key (unique ``_id``) unless present; if present, return its saved ack."""
        try:
            await self._requests.insert_one({"_id": [pid, key], "ack": None, "expires_at": expires_at})
            return RequestClaim(new=True)
        except DuplicateKeyError:
            found = await self._requests.find_one({"_id": [pid, key]})
            return RequestClaim(new=False, ack=found["ack"] if found else None)

    async def finish_request(self, pid: str, key: str, ack: str) -> None:
        """Save the ack of the claimed request."""
        await self._requests.update_one({"_id": [pid, key]}, {"$set": {"ack": ack}})

    async def trim(self, packets_before: datetime, now: datetime) -> None:
        """Forget packets persisted before ``packets_before`` and sessions and keys expired at ``now``."""
        await self._packets.delete_many({"at": {"$lt": packets_before}})
        await self._sessions.delete_many({"expires_at": {"$lte": now}})
        await self._requests.delete_many({"expires_at": {"$lte": now}})
