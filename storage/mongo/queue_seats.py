"""Queue seats on MongoDB: which agent sits at which window, each change one transaction with its audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.queue import AuditEntry
from storage.mongo.db import MongoDatabase
from storage.mongo.queue_calls import BEFORE, LIVE, check_live, window_id
from storage.queue import removal_entry, seat_entry


def new_window(ref: str, number: int, agent_id: str | None = None) -> dict[str, Any]:
    """Return the document of a fresh window of an office."""
    return {
        "_id": window_id(ref, number),
        "ref_office": ref,
        "number_window": number,
        "agent_id": agent_id,
        "served": 0,
        "no_shows": 0,
        "current_number": None,
    }


class MongoQueueSeats:
    """Seating and removing agents, and the office write that orders every change of windows or seats."""

    _offices: AsyncCollection[dict[str, Any]]
    _windows: AsyncCollection[dict[str, Any]]
    _audit: AsyncCollection[dict[str, Any]]
    _db: MongoDatabase

    async def _change_layout(
        self, ref: str, session: AsyncClientSession, changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write the live office (``changes`` and its layout version) in the caller's transaction, or raise NotFound.

        Every change of an office's windows or seats passes here, so two of them always write
        the same document: the second conflicts and runs again on the first's result. Without
        it, two assignments of one agent to two windows would each write only their own window
        and both commit (a deletion committed meanwhile, likewise, is seen and refused).
        """
        update: dict[str, Any] = {"$inc": {"layout_version": 1}}
        if changes:
            update["$set"] = changes
        office = await self._offices.find_one_and_update({"_id": ref, **LIVE}, update, session=session)
        return check_live(office or await self._offices.find_one({"_id": ref}, session=session), ref)

    async def _log(self, entry: AuditEntry, session: AsyncClientSession | None = None) -> None:
        """Insert one audit entry (inside the caller's transaction when given its session)."""
        doc = entry.model_dump()
        await self._audit.insert_one({"_id": doc.pop("id"), **doc}, session=session)

    async def assign_agent(self, ref: str, number_window: int, agent_id: str, by: str, now: datetime) -> bool:
        """Seat ``agent_id`` at the window (leaving any other window of the office) and log it, in one transaction.

        Return True if the window is new. Two assignments of one agent racing each other leave
        the agent at exactly one window (see ``_change_layout``).
        """
        fresh = new_window(ref, number_window)
        on_insert = {k: v for k, v in fresh.items() if k not in ("_id", "agent_id")}
        elsewhere = {"ref_office": ref, "agent_id": agent_id, "number_window": {"$ne": number_window}}

        async def attempt(session: AsyncClientSession) -> bool:
            await self._change_layout(ref, session)
            left = await self._windows.find(elsewhere, {"number_window": 1}, session=session).to_list()
            await self._windows.update_many(
                {**elsewhere, "_id": {"$in": [w["_id"] for w in left]}}, {"$set": {"agent_id": None}}, session=session
            )
            before = await self._windows.find_one_and_update(
                {"_id": fresh["_id"]},
                {"$set": {"agent_id": agent_id}, "$setOnInsert": on_insert},
                upsert=True,
                return_document=BEFORE,
                session=session,
            )
            replaced = before.get("agent_id") if before else None
            left_numbers = sorted(w["number_window"] for w in left)
            entry = seat_entry(ref, number_window, agent_id, by, now, replaced, left_numbers, before is None)
            await self._log(entry, session)
            return before is None

        return await self._db.transaction(attempt)

    async def remove_agent(self, ref: str, agent_id: str, by: str, now: datetime) -> list[int]:
        """Take the agent off every window of the office and log it, in one transaction; return the windows freed."""
        seated = {"ref_office": ref, "agent_id": agent_id}

        async def attempt(session: AsyncClientSession) -> list[int]:
            await self._change_layout(ref, session)
            docs = await self._windows.find(seated, {"number_window": 1}, session=session).to_list()
            await self._windows.update_many(
                {**seated, "_id": {"$in": [d["_id"] for d in docs]}}, {"$set": {"agent_id": None}}, session=session
            )
            windows = sorted(d["number_window"] for d in docs)
            await self._log(removal_entry(ref, agent_id, by, now, windows), session)
            return windows

        return await self._db.transaction(attempt)
