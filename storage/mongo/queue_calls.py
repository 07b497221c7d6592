"""Queue calls and virtual numbers on MongoDB.

A press (``call_next``), a recall, a no-show and a take each run as one multi-document
transaction (a press or a no-show together with the client's virtual number it moves); the rest
are single-document atomic updates. Transactions need a replica set (one node is enough).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict, Forbidden, NotFound
from models.queue import Called, QueueNumber, Service, Skipped
from storage.database import new_id
from storage.mongo.db import MongoDatabase

AFTER = ReturnDocument.AFTER
BEFORE = ReturnDocument.BEFORE
LIVE = {"deleted_at": None}


def window_id(ref: str, number: int) -> str:
    """Return the document id of an office window."""
    return f"{ref}#{number}"


def check_live(doc: dict[str, Any] | None, ref: str) -> dict[str, Any]:
    """Raise ``NotFound`` unless the office exists and is not deleted."""
    if doc is None:
        raise NotFound(f"no office with reference {ref}", {"ref_office": ref})
    if doc.get("deleted_at") is not None:
        raise NotFound(f"office {ref} was deleted", {"ref_office": ref, "deleted": True})
    return doc


def _service(doc: dict[str, Any]) -> Service:
    return Service.model_validate({**doc, "id": doc["_id"]})


def number_of(doc: dict[str, Any]) -> QueueNumber:
    """Return the virtual number stored in ``doc``."""
    return QueueNumber.model_validate({**doc, "id": doc["_id"]})


class MongoQueueCalls:
    """Calling numbers at windows, recalls, no-shows, virtual numbers and service history."""

    _offices: AsyncCollection[dict[str, Any]]
    _windows: AsyncCollection[dict[str, Any]]
    _services: AsyncCollection[dict[str, Any]]
    _numbers: AsyncCollection[dict[str, Any]]

    _db: MongoDatabase

    async def _live(self, ref: str, session: AsyncClientSession | None = None) -> dict[str, Any]:
        return check_live(await self._offices.find_one({"_id": ref}, session=session), ref)

    async def _check_agent(
        self, ref: str, number_window: int, agent_id: str, session: AsyncClientSession | None = None
    ) -> None:
        await self._live(ref, session)
        window = await self._windows.find_one({"_id": window_id(ref, number_window)}, session=session)
        if window is None:
            raise NotFound(
                f"office {ref} has no window {number_window}", {"ref_office": ref, "number_window": number_window}
            )
        if window.get("agent_id") != agent_id:
            raise Forbidden(f"you are not the agent at window {number_window}", {"number_window": number_window})

    async def _seat(
        self, ref: str, number_window: int, agent_id: str, update: dict[str, Any], session: AsyncClientSession
    ) -> None:
        """Apply ``update`` to the window only if ``agent_id`` sits there, else raise why not.

        A write inside the caller's transaction, not a read: a removal or reassignment committed
        meanwhile makes it match nothing or conflict (and the transaction runs again), and one
        still in flight waits for it, so the seat holds until the transaction commits.
        """
        wid = window_id(ref, number_window)
        if await self._windows.find_one_and_update({"_id": wid, "agent_id": agent_id}, update, session=session):
            return
        await self._check_agent(ref, number_window, agent_id, session)
        raise Forbidden(f"you are not the agent at window {number_window}", {"number_window": number_window})

    async def call_next(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Called:
        """Take the office's next number for this window and record the service, in one transaction.

        The seat check, the office counter, the window's counts, the service and the client's
        virtual number (waiting to called) commit together, so an agent removed (or a counter
        reset) at the same instant cannot get a number or lose one, and a number called is never left waiting.
        """

        async def attempt(session: AsyncClientSession) -> Called:
            office = await self._offices.find_one_and_update(
                {"_id": ref, **LIVE}, {"$inc": {"counter": 1}}, return_document=AFTER, session=session
            )
            if office is None:
                await self._live(ref, session)  # raises the precise NotFound
            assert office is not None
            number = office["counter"]
            await self._seat(
                ref, number_window, agent_id, {"$inc": {"served": 1}, "$set": {"current_number": number}}, session
            )
            serving = {"ref_office": ref, "number_window": number_window, "outcome": "serving"}
            ended = {"$set": {"outcome": "served", "ended_at": now}}
            closed = await self._services.find_one_and_update(
                serving, ended, sort=[("number", DESCENDING)], return_document=AFTER, session=session
            )
            if closed is not None:  # an older service left open (data from before transactions): close it too
                await self._services.update_many(serving, ended, session=session)
            holder = await self._numbers.find_one_and_update(
                {"ref_office": ref, "epoch": office["epoch"], "number": number, "status": "waiting"},
                {
                    "$set": {"status": "called", "called_at": now, "number_window": number_window},
                    "$unset": {"waiting_key": ""},
                },
                return_document=AFTER,
                session=session,
            )
            service = Service(
                id=new_id(),
                ref_office=ref,
                epoch=office["epoch"],
                number=number,
                number_window=number_window,
                agent_id=agent_id,
                called_at=now,
            )
            doc = service.model_dump()
            await self._services.insert_one({"_id": doc.pop("id"), **doc}, session=session)
            return Called(
                service=service,
                closed=_service(closed) if closed else None,
                holder=number_of(holder) if holder else None,
            )

        return await self._db.transaction(attempt)

    async def recall(self, ref: str, number_window: int, agent_id: str) -> Service:
        """Count one more announcement of the window's current number, in one transaction; ``Conflict`` if none.

        The seat check is a write (the window's lifetime ``recalls`` count, which a no-op write
        would not be), so an agent removed at the same instant announces nothing.
        """

        async def attempt(session: AsyncClientSession) -> Service:
            await self._seat(ref, number_window, agent_id, {"$inc": {"recalls": 1}}, session)
            doc = await self._services.find_one_and_update(
                {"ref_office": ref, "number_window": number_window, "outcome": "serving"},
                {"$inc": {"recalls": 1}},
                sort=[("number", DESCENDING)],
                return_document=AFTER,
                session=session,
            )
            if doc is None:
                raise Conflict(f"no number is being served at window {number_window}", {"number_window": number_window})
            return _service(doc)

        return await self._db.transaction(attempt)

    async def mark_no_show(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Skipped:
        """End the window's current service as a no-show and move it from served to no-shows, in one transaction.

        The holder's called number becomes a no-show in the same transaction. ``Conflict`` if the
        window serves no number.
        """
        wid = window_id(ref, number_window)

        async def attempt(session: AsyncClientSession) -> Skipped:
            await self._seat(ref, number_window, agent_id, {"$inc": {"no_shows": 1}}, session)
            doc = await self._services.find_one_and_update(
                {"ref_office": ref, "number_window": number_window, "outcome": "serving"},
                {"$set": {"outcome": "no_show", "ended_at": now}},
                sort=[("number", DESCENDING)],
                return_document=AFTER,
                session=session,
            )
            if doc is None:
                raise Conflict(f"no number is being served at window {number_window}", {"number_window": number_window})
            holder = await self._numbers.find_one_and_update(
                {"ref_office": ref, "epoch": doc["epoch"], "number": doc["number"], "status": "called"},
                {"$set": {"status": "no_show"}},
                return_document=AFTER,
                session=session,
            )
            await self._windows.update_one(
                {"_id": wid, "served": {"$gt": 0}}, {"$inc": {"served": -1}}, session=session
            )
            await self._windows.update_one(
                {"_id": wid, "current_number": doc["number"]}, {"$set": {"current_number": None}}, session=session
            )
            return Skipped(service=_service(doc), holder=number_of(holder) if holder else None)

        return await self._db.transaction(attempt)

    async def take_number(self, ref: str, user_id: str, now: datetime) -> QueueNumber:
        """Issue the user the office's next number, in one transaction; ``Conflict`` if they already wait there.

        The office's issued count and the number commit together, so a reset or deletion at the
        same instant either sees (and expires) the number or comes first (and the number is of the new epoch).
        """

        async def attempt(session: AsyncClientSession) -> QueueNumber:
            office = await self._live(ref, session)
            waiting = await self._numbers.find_one(
                {"ref_office": ref, "epoch": office["epoch"], "user_id": user_id, "status": "waiting"},
                session=session,
            )
            if waiting is not None:
                raise Conflict(f"you already hold number {waiting['number']} at {ref}", {"number": waiting["number"]})
            updated = await self._offices.find_one_and_update(
                {"_id": ref, **LIVE},
                [{"$set": {"issued": {"$add": [{"$max": ["$issued", "$counter"]}, 1]}}}],
                return_document=AFTER,
                session=session,
            )
            check_live(updated, ref)
            assert updated is not None
            number = QueueNumber(
                id=new_id(),
                ref_office=ref,
                epoch=updated["epoch"],
                number=updated["issued"],
                user_id=user_id,
                taken_at=now,
            )
            doc = number.model_dump()
            doc["waiting_key"] = f"{ref}:{number.epoch}:{user_id}"
            try:
                await self._numbers.insert_one({"_id": doc.pop("id"), **doc}, session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"you already hold a number at {ref}") from exc
            return number

        return await self._db.transaction(attempt)

    async def latest_number(self, ref: str, epoch: int, user_id: str) -> QueueNumber | None:
        """Return the user's most recent number at the office in this epoch."""
        cursor = self._numbers.find({"ref_office": ref, "epoch": epoch, "user_id": user_id}).sort("number", DESCENDING)
        docs = await cursor.limit(1).to_list()
        return number_of(docs[0]) if docs else None

    async def find_number(self, ref: str, epoch: int, number: int) -> QueueNumber | None:
        """Return the virtual number ``number`` of this epoch, if a client took it."""
        doc = await self._numbers.find_one({"ref_office": ref, "epoch": epoch, "number": number})
        return number_of(doc) if doc else None

    async def claim_soon(self, ref: str, epoch: int, up_to: int) -> list[QueueNumber]:
        """Flag (once) and return waiting numbers up to ``up_to`` that were not yet told their turn is near."""
        query = {"ref_office": ref, "epoch": epoch, "status": "waiting", "soon_notified": False}
        claimed = []
        async for doc in self._numbers.find({**query, "number": {"$lte": up_to}}).sort("number", ASCENDING):
            won = await self._numbers.find_one_and_update(
                {**query, "_id": doc["_id"]}, {"$set": {"soon_notified": True}}, return_document=AFTER
            )
            if won is not None:
                claimed.append(number_of(won))
        return claimed

    async def recent_durations(self, ref: str, limit: int) -> list[float]:
        """Return the durations in seconds of the office's ``limit`` most recently completed services."""
        cursor = (
            self._services.find({"ref_office": ref, "outcome": "served", "ended_at": {"$ne": None}})
            .sort("ended_at", DESCENDING)
            .limit(limit)
        )
        return [d for d in [_service(doc).duration_seconds async for doc in cursor] if d is not None]

    async def services_between(self, ref: str, start: datetime, end: datetime | None) -> list[Service]:
        """Return the services called in ``[start, end)`` (``end`` None: open-ended)."""
        called: dict[str, Any] = {"$gte": start}
        if end is not None:
            called["$lt"] = end
        cursor = self._services.find({"ref_office": ref, "called_at": called}).sort(
            [("called_at", ASCENDING), ("number", ASCENDING)]
        )
        return [_service(doc) async for doc in cursor]
