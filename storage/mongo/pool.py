"""The pull-assignment pool on MongoDB.

Claiming: each ticket is taken by one ``find_one_and_update`` whose filter only matches a
still-unassigned ticket (sorted oldest first), so two claimers can never take the same one.

The per-agent cap: a claimed ticket also gets a ``slot`` number in ``0..limit-1``, and a
unique index on ``(agent_id, slot)`` that covers only assigned (unsold) tickets makes the
database refuse a second unsold ticket in the same slot. An agent can therefore never hold
more than ``limit`` unsold tickets, even when several of its fetches run at once in several
processes: the loser of a slot gets a duplicate-key error and its ticket stays unassigned
(the update is refused as a whole). There is no counter to drift if a process dies mid-fetch.

Selling runs in a transaction: the ids are checked and all marked sold (and their slots
freed) in one commit, or the transaction aborts and nothing changes. A sale racing another
sale of the same tickets hits a write conflict, is retried by ``MongoDatabase.transaction``
and then sees them sold. A sale can therefore never be half-applied, not even if the process dies
half-way (an uncommitted transaction is rolled back by the server). Transactions need a
replica set (a one-node replica set is enough) or secantusdb.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.clock import Clock
from models.errors import Conflict
from models.pool import Claim, Customer, Loaded, NewPoolTicket, PoolCounts, PoolStatus, PoolTicket, Released, Sold
from storage.database import new_id
from storage.mongo.db import MongoDatabase
from storage.pool import sale_failures, sale_refused

_OLDEST = [("created_at", ASCENDING), ("_id", ASCENDING)]
_ASSIGNED = PoolStatus.ASSIGNED.value


class _Refused(Exception):
    """A sale's conditional update missed some ticket: abort, then say why."""


def _ticket(doc: dict[str, Any]) -> PoolTicket:
    return PoolTicket.model_validate({**doc, "id": doc["_id"]})


class MongoPoolStore:
    """Pool tickets in MongoDB."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._tickets = db.db["pool_tickets"]

    async def init(self) -> None:
        """Create the pool indexes if missing (the slot index is what caps an agent's holdings)."""
        await self._tickets.create_index([("status", ASCENDING), *_OLDEST])
        await self._tickets.create_index([("agent_id", ASCENDING), ("status", ASCENDING), *_OLDEST])
        await self._tickets.create_index(_OLDEST)
        await self._tickets.create_index(
            [("agent_id", ASCENDING), ("slot", ASCENDING)],
            unique=True,
            name="pool_agent_slot_unsold",
            partialFilterExpression={"status": _ASSIGNED},
        )

    async def add_tickets(self, tickets: list[NewPoolTicket], clock: Clock) -> Loaded:
        """Store new unassigned tickets in one transaction (all or none); return their ids in creation order."""
        ids = sorted(new_id() for _ in tickets)
        now = clock()
        docs = [
            {
                "_id": i,
                "title": t.title,
                "details": t.details,
                "priority": t.priority.value,
                "status": PoolStatus.UNASSIGNED.value,
                "agent_id": None,
                "created_at": now,
            }
            for i, t in zip(ids, tickets, strict=True)
        ]
        await self._db.transaction(lambda session: self._tickets.insert_many(docs, ordered=True, session=session))
        return Loaded(ids=ids, counts=await self.counts())

    async def claim_unassigned(self, agent_id: str, limit: int, clock: Clock) -> Claim:
        """Claim the oldest unassigned tickets one atomic update at a time, each into a free slot of the agent.

        One at a time on purpose: concurrent claims all race for the same oldest ticket, and under
        that contention they were slower (secantusdb: 18 vs 47 claims/s for a lone agent).
        """
        held = await self._held(agent_id)
        used = {doc.get("slot") for doc in held}
        need = limit - len(held)
        claimed, tried = 0, False
        for slot in (s for s in range(limit) if s not in used):
            if claimed >= need:
                break
            tried = True
            outcome = await self._claim_one(agent_id, slot, clock)
            if outcome is None:
                break  # the pool is empty
            claimed += outcome
        tickets = await self._held(agent_id) if tried else held
        return Claim([_ticket(d) for d in tickets], claimed=claimed, held_before=len(held), counts=await self.counts())

    async def _claim_one(self, agent_id: str, slot: int, clock: Clock) -> bool | None:
        """Take the oldest unassigned ticket into ``slot``: True; False if the slot is taken; None if none is left."""
        try:
            doc = await self._tickets.find_one_and_update(
                {"status": PoolStatus.UNASSIGNED.value},
                {"$set": {"status": _ASSIGNED, "agent_id": agent_id, "slot": slot, "assigned_at": clock()}},
                sort=_OLDEST,
                projection={"_id": 1},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # another fetch of this agent filled the slot first; the ticket stayed unassigned
        return True if doc is not None else None

    async def _held(self, agent_id: str, session: AsyncClientSession | None = None) -> list[dict[str, Any]]:
        cursor = self._tickets.find({"agent_id": agent_id, "status": _ASSIGNED}, session=session).sort(_OLDEST)
        return [doc async for doc in cursor]

    async def sell(self, agent_id: str, ticket_ids: list[str], customer: Customer, clock: Clock) -> Sold:
        """Check every id and mark them all sold in one transaction, or abort and raise."""

        async def attempt(session: AsyncClientSession) -> None:
            result = await self._tickets.update_many(
                {"_id": {"$in": ticket_ids}, "agent_id": agent_id, "status": _ASSIGNED},
                {
                    "$set": {"status": PoolStatus.SOLD.value, "sold_at": clock(), "customer": customer.model_dump()},
                    "$unset": {"slot": ""},
                },
                session=session,
            )
            if result.modified_count != len(ticket_ids):
                raise _Refused  # aborts: the partial update is undone

        try:
            await self._db.transaction(attempt)
        except _Refused:  # only a refused sale reads the tickets, to say why
            cursor = self._tickets.find({"_id": {"$in": ticket_ids}}, {"agent_id": 1, "status": 1})
            found = {d["_id"]: (d.get("agent_id"), PoolStatus(d["status"])) async for d in cursor}
            failures = sale_failures(ticket_ids, found, agent_id)
            if failures:
                raise sale_refused(failures) from None
            raise Conflict("the tickets changed during the sale; nothing was sold") from None
        cursor = self._tickets.find({"_id": {"$in": ticket_ids}}).sort(_OLDEST)
        return Sold(tickets=[_ticket(d) async for d in cursor], counts=await self.counts())

    async def list_tickets(
        self, status: PoolStatus | None, agent_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[PoolTicket]:
        """Return up to ``limit`` tickets in creation order, after a cursor position."""
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status.value
        if agent_id is not None:
            query["agent_id"] = agent_id
        if after is not None:
            stamp, last_id = after
            query["$or"] = [{"created_at": {"$gt": stamp}}, {"created_at": stamp, "_id": {"$gt": last_id}}]
        cursor = self._tickets.find(query).sort(_OLDEST).limit(limit)
        return [_ticket(d) async for d in cursor]

    async def release_held(self, agent_id: str) -> Released:
        """Return the agent's unsold tickets to the pool in one transaction (their slots freed)."""
        held = {"agent_id": agent_id, "status": _ASSIGNED}

        async def attempt(session: AsyncClientSession) -> list[str]:
            ids = [d["_id"] async for d in self._tickets.find(held, {"_id": 1}, session=session)]
            await self._tickets.update_many(
                {**held, "_id": {"$in": ids}},
                {
                    "$set": {"status": PoolStatus.UNASSIGNED.value, "agent_id": None},
                    "$unset": {"slot": "", "assigned_at": ""},
                },
                session=session,
            )
            return ids

        released = await self._db.transaction(attempt)
        return Released(ids=sorted(released), counts=await self.counts())

    async def counts(self) -> PoolCounts:
        """Return how many tickets are in each status, in one round trip."""
        values = {s.value: 0 for s in PoolStatus}
        async for group in await self._tickets.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            values[group["_id"]] = group["n"]
        return PoolCounts.model_validate(values)
