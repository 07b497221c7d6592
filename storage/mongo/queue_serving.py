"""The queue's "now serving" counter on MongoDB: a press, a recall and a no-show are each one transaction.

A press or a no-show commits together with the client's virtual number it moves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from models.errors import Conflict, Forbidden, NotFound
from models.queue import Called, Service, Skipped
from storage.database import new_id
from storage.mongo.db import MongoDatabase
from storage.mongo.queue import AFTER, LIVE, live_office, number_of, service_of, window_id


class MongoServingCounter:
    """Calling numbers at windows, recalls, no-shows and the service history (collection ``queue_services``)."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._offices = db.db["queue_offices"]
        self._windows = db.db["queue_windows"]
        self._services = db.db["queue_services"]
        self._numbers = db.db["queue_numbers"]

    async def init(self) -> None:
        """Create the services' indexes if missing."""
        await self._services.create_index(
            [("ref_office", ASCENDING), ("epoch", ASCENDING), ("number", ASCENDING)], unique=True
        )
        await self._services.create_index([("ref_office", ASCENDING), ("called_at", ASCENDING)])
        await self._services.create_index(
            [("ref_office", ASCENDING), ("number_window", ASCENDING), ("outcome", ASCENDING)]
        )
        await self._services.create_index([("ref_office", ASCENDING), ("outcome", ASCENDING), ("ended_at", DESCENDING)])

    async def _check_agent(
        self, ref: str, number_window: int, agent_id: str, session: AsyncClientSession | None = None
    ) -> None:
        await live_office(self._offices, ref, session)
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
                await live_office(self._offices, ref, session)  # raises the precise NotFound
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
                closed=service_of(closed) if closed else None,
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
            return service_of(doc)

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
            return Skipped(service=service_of(doc), holder=number_of(holder) if holder else None)

        return await self._db.transaction(attempt)

    async def recent_durations(self, ref: str, limit: int) -> list[float]:
        """Return the durations in seconds of the office's ``limit`` most recently completed services."""
        cursor = (
            self._services.find({"ref_office": ref, "outcome": "served", "ended_at": {"$ne": None}})
            .sort("ended_at", DESCENDING)
            .limit(limit)
        )
        return [d for d in [service_of(doc).duration_seconds async for doc in cursor] if d is not None]

    async def services_between(self, ref: str, start: datetime, end: datetime | None) -> list[Service]:
        """Return the services called in ``[start, end)`` (``end`` None: open-ended)."""
        called: dict[str, Any] = {"$gte": start}
        if end is not None:
            called["$lt"] = end
        cursor = self._services.find({"ref_office": ref, "called_at": called}).sort(
            [("called_at", ASCENDING), ("number", ASCENDING)]
        )
        return [service_of(doc) async for doc in cursor]
