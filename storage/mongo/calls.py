"""Calls on MongoDB: every transition is a conditional find_one_and_update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from models.calls import OPEN_STATES, Call, CallProtocol, CallState, EndReason, busy
from models.errors import NotFound
from storage.mongo.db import MongoDatabase

_OPEN = [s.value for s in OPEN_STATES]
# While a call is active, ``engaged`` lists its signed-in parties; a unique index over it lets a user
# hold one active call at a time (ending a call unsets it).
ENGAGED = "engaged"


def _call(doc: dict[str, Any]) -> Call:
    return Call.model_validate({**doc, "id": doc["_id"]})


def _ended(reason: EndReason, by: str | None, now: datetime) -> dict[str, Any]:
    return {
        "$set": {"state": CallState.ENDED.value, "end_reason": reason.value, "ended_by": by, "ended_at": now},
        "$unset": {ENGAGED: ""},
    }


class MongoCallStore:
    """Calls in MongoDB."""

    def __init__(self, db: MongoDatabase) -> None:
        self._calls = db.db["calls"]

    async def init(self) -> None:
        """Create the call indexes if missing."""
        await self._calls.create_index([("state", ASCENDING), ("ring_deadline", ASCENDING)])
        await self._calls.create_index([("caller_sid", ASCENDING)])
        await self._calls.create_index([("callee_sid", ASCENDING)])
        await self._calls.create_index([("invited", ASCENDING)])
        await self._calls.create_index([("caller_user", ASCENDING), ("state", ASCENDING)])
        await self._calls.create_index([("callee_user", ASCENDING), ("state", ASCENDING)])
        await self._calls.create_index(
            [(ENGAGED, ASCENDING)],
            unique=True,
            partialFilterExpression={"state": CallState.ACTIVE.value, ENGAGED: {"$exists": True}},
        )

    async def _move(self, query: dict[str, Any], update: dict[str, Any]) -> Call | None:
        doc = await self._calls.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        return _call(doc) if doc else None

    async def _move_all(self, query: dict[str, Any], update: dict[str, Any]) -> list[Call]:
        moved: list[Call] = []
        while (call := await self._move(query, update)) is not None:
            moved.append(call)
        return moved

    async def create(self, call: Call) -> None:
        """Store a new call."""
        doc = call.model_dump(mode="python")
        doc["_id"] = doc.pop("id")
        await self._calls.insert_one(doc)

    async def get(self, call_id: str) -> Call:
        """Return one call; ``NotFound`` if unknown."""
        doc = await self._calls.find_one({"_id": call_id})
        if doc is None:
            raise NotFound("no such call", {"call_id": call_id})
        return _call(doc)

    async def answer(self, call_id: str, user_id: str | None, sid: str, instance_id: str, now: datetime) -> Call | None:
        """ringing -> active, if still ringing before its deadline and neither party is in another active call.

        One conditional find_one_and_update that also sets ``engaged``: the unique index refuses it
        (DuplicateKey, nothing written) when a party already holds another active call.
        """
        doc = await self._calls.find_one({"_id": call_id}, {"caller_user": 1})
        if doc is None:
            return None
        parties = [u for u in dict.fromkeys((user_id, doc.get("caller_user"))) if u is not None]
        update: dict[str, Any] = {
            "state": CallState.ACTIVE.value,
            "callee_user": user_id,
            "callee_sid": sid,
            "callee_instance": instance_id,
            "answered_at": now,
        }
        if parties:  # an empty list is one (undefined) index key: two would clash
            update[ENGAGED] = parties
        ringing = {"_id": call_id, "state": CallState.RINGING.value, "ring_deadline": {"$gt": now}}
        try:
            return await self._move(ringing, {"$set": update})
        except DuplicateKeyError as exc:
            raise busy(await self._held(exc, parties), call_id) from exc

    async def _held(self, exc: DuplicateKeyError, parties: list[str]) -> str:
        """Which of ``parties`` (answerer first) holds another active call: the duplicate key, else a lookup."""
        held = ((exc.details or {}).get("keyValue") or {}).get(ENGAGED)
        if held in parties:
            return str(held)
        found = await self.busy(parties)
        return next((p for p in parties if p in found), parties[0])

    async def reject(self, call_id: str, user_id: str) -> Call | None:
        """Add ``user_id`` to the decliners of a ringing call."""
        return await self._move(
            {"_id": call_id, "state": CallState.RINGING.value}, {"$addToSet": {"rejected": user_id}}
        )

    async def end(
        self, call_id: str, reason: EndReason, by: str | None, now: datetime, states: tuple[CallState, ...]
    ) -> Call | None:
        """Move the call to ended if it is in one of ``states``."""
        return await self._move({"_id": call_id, "state": {"$in": [s.value for s in states]}}, _ended(reason, by, now))

    async def open_calls_of_socket(self, sid: str) -> list[Call]:
        """Return the ringing or active calls this socket placed or answered."""
        query = {"state": {"$in": _OPEN}, "$or": [{"caller_sid": sid}, {"callee_sid": sid}]}
        return [_call(doc) async for doc in self._calls.find(query)]

    async def ringing_for(self, protocol: CallProtocol, refs: list[str]) -> list[Call]:
        """Return the ringing calls of ``protocol`` inviting any of ``refs``, newest first."""
        query = {"state": CallState.RINGING.value, "protocol": protocol.value, "invited": {"$in": refs}}
        cursor = self._calls.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return [_call(doc) async for doc in cursor]

    async def busy(self, user_ids: list[str]) -> set[str]:
        """Return those of ``user_ids`` who are a party of an active call."""
        if not user_ids:
            return set()
        ids = {"$in": user_ids}
        query = {"state": CallState.ACTIVE.value, "$or": [{"caller_user": ids}, {"callee_user": ids}]}
        found = self._calls.find(query, {"caller_user": 1, "callee_user": 1})
        return {doc.get(k) async for doc in found for k in ("caller_user", "callee_user")} & set(user_ids)

    async def expire_ringing(self, now: datetime) -> list[Call]:
        """End as missed every call ringing past its deadline."""
        query = {"state": CallState.RINGING.value, "ring_deadline": {"$lte": now}}
        return await self._move_all(query, _ended(EndReason.MISSED, None, now))

    async def end_calls_of_instance(self, instance_id: str, now: datetime) -> list[Call]:
        """End every open call with a party on ``instance_id``."""
        query = {"state": {"$in": _OPEN}, "$or": [{"caller_instance": instance_id}, {"callee_instance": instance_id}]}
        return await self._move_all(query, _ended(EndReason.INSTANCE_LOST, None, now))
