"""Queue offices on MongoDB: offices, windows, seats, resets and the audit log, each change one transaction."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict
from models.queue import AuditEntry, Office, QueueNumber, Reset, Window
from storage.mongo.db import MongoDatabase
from storage.mongo.queue import AFTER, BEFORE, LIVE, check_live, live_office, new_window, number_of
from storage.queue import no_window_error, office_ref, removal_entry, reset_entry, seat_entry


class MongoOfficeStore:
    """Offices in MongoDB: one document per office, window and audit entry (and the office reference sequence)."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._offices = db.db["queue_offices"]
        self._windows = db.db["queue_windows"]
        self._services = db.db["queue_services"]
        self._numbers = db.db["queue_numbers"]
        self._audit = db.db["queue_audit"]
        self._sequences = db.db["queue_sequences"]

    async def init(self) -> None:
        """Create the offices', windows' and audit indexes if missing."""
        await self._offices.create_index([("manager_id", ASCENDING), ("created_at", ASCENDING)])
        await self._offices.create_index("name_lower")
        await self._windows.create_index([("ref_office", ASCENDING), ("number_window", ASCENDING)], unique=True)
        await self._windows.create_index("agent_id")
        await self._audit.create_index([("ref_office", ASCENDING), ("at", DESCENDING)])

    async def _live(self, ref: str, session: AsyncClientSession | None = None) -> dict[str, Any]:
        return await live_office(self._offices, ref, session)

    async def _with_windows(self, docs: list[dict[str, Any]]) -> list[Office]:
        if not docs:
            return []
        refs = [d["_id"] for d in docs]
        by_ref: dict[str, list[Window]] = {ref: [] for ref in refs}
        async for w in self._windows.find({"ref_office": {"$in": refs}}).sort("number_window", ASCENDING):
            by_ref[w["ref_office"]].append(Window.model_validate(w))
        return [Office.model_validate({**d, "ref_office": d["_id"], "windows": by_ref[d["_id"]]}) for d in docs]

    async def _next_ref(self) -> str:
        for _ in range(3):
            try:
                seq = await self._sequences.find_one_and_update(
                    {"_id": "office_ref"}, {"$inc": {"value": 1}}, upsert=True, return_document=AFTER
                )
                return office_ref(seq["value"])
            except DuplicateKeyError:  # two first-ever offices raced on the upsert; the loser retries
                continue
        raise Conflict("could not allocate an office reference; try again")

    async def create_office(
        self, name: str, address: str | None, windows: int, manager_id: str, now: datetime
    ) -> Office:
        """Store an office with a fresh unique reference and windows 1..``windows``."""
        doc = {
            "name": name,
            "name_lower": name.casefold(),
            "address": address,
            "manager_id": manager_id,
            "counter": 0,
            "issued": 0,
            "epoch": 0,
            "created_at": now,
            "deleted_at": None,
        }
        for _ in range(5):
            ref = await self._next_ref()
            try:
                await self._db.transaction(partial(self._insert_office, {"_id": ref, **doc}, windows))
            except DuplicateKeyError:  # the reference is taken (the sequence lags the offices): take the next
                continue
            return await self.get_office(ref)
        raise Conflict("could not allocate an office reference; try again")

    async def _insert_office(self, office: dict[str, Any], windows: int, session: AsyncClientSession) -> None:
        """Insert the office and its windows inside the caller's transaction: both are stored or neither."""
        await self._offices.insert_one(office, session=session)
        windows_docs = [new_window(office["_id"], n) for n in range(1, windows + 1)]
        await self._windows.insert_many(windows_docs, session=session)

    async def get_office(self, ref: str) -> Office:
        """Return a live office with its windows; ``NotFound`` if unknown or deleted."""
        return (await self._with_windows([await self._live(ref)]))[0]

    async def live_offices(self, refs: list[str]) -> list[Office]:
        """Return the live offices among ``refs`` (unknown and deleted ones are left out)."""
        return await self._with_windows(await self._offices.find({"_id": {"$in": refs}, **LIVE}).to_list())

    async def update_office(self, ref: str, name: str | None, address: str | None, windows: int | None) -> Office:
        """Change the given fields; ``windows`` may only grow (``Conflict`` otherwise); one transaction."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes.update(name=name, name_lower=name.casefold())
        if address is not None:
            changes["address"] = address

        async def attempt(session: AsyncClientSession) -> None:
            await self._change_layout(ref, session, changes)
            if windows is None:
                return
            existing = {w["number_window"] async for w in self._windows.find({"ref_office": ref}, session=session)}
            if windows < len(existing):
                have = len(existing)
                raise Conflict(f"office {ref} has {have} windows; windows can only be added", {"windows": have})
            missing = [new_window(ref, n) for n in range(1, windows + 1) if n not in existing]
            if missing:
                await self._windows.insert_many(missing, session=session)

        await self._db.transaction(attempt)
        return await self.get_office(ref)

    async def delete_office(self, ref: str, now: datetime) -> list[str]:
        """Mark the office deleted, expire its waiting numbers and return their users, in one transaction."""

        async def attempt(session: AsyncClientSession) -> list[str]:
            done = await self._offices.find_one_and_update(
                {"_id": ref, **LIVE}, {"$set": {"deleted_at": now}}, session=session
            )
            if done is None:
                await self._live(ref, session)  # raises the precise NotFound
            return sorted({n.user_id for n in await self._expire_waiting(ref, session)})

        return await self._db.transaction(attempt)

    async def offices_managed_by(self, manager_id: str) -> list[Office]:
        """Return the live offices of a manager, oldest first."""
        cursor = self._offices.find({"manager_id": manager_id, **LIVE}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return await self._with_windows(await cursor.to_list())

    async def offices_staffed_by(self, agent_id: str) -> list[Office]:
        """Return the live offices where an agent sits at a window."""
        refs = sorted({w["ref_office"] async for w in self._windows.find({"agent_id": agent_id})})
        cursor = self._offices.find({"_id": {"$in": refs}, **LIVE}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return await self._with_windows(await cursor.to_list())

    async def search_offices(self, query: str, limit: int) -> list[Office]:
        """Return live offices whose name contains ``query`` (any case) or whose reference starts with it."""
        text = re.escape(query.casefold())
        cursor = (
            self._offices.find({"$or": [{"name_lower": {"$regex": text}}, {"_id": {"$regex": f"^{text}"}}], **LIVE})
            .sort([("name_lower", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return await self._with_windows(await cursor.to_list())

    async def reset_counters(self, ref: str, by: str, now: datetime) -> Reset:
        """Set the counter, issued numbers and every window's counts to 0, start a new epoch, log it.

        One transaction: the previous values logged are exactly the ones overwritten, and a press,
        no-show or take racing the reset lands wholly before it (and is logged) or wholly after it.
        """
        return await self._db.transaction(lambda session: self._reset(ref, by, now, session))

    async def _reset(self, ref: str, by: str, now: datetime, session: AsyncClientSession) -> Reset:
        before = await self._offices.find_one_and_update(
            {"_id": ref, **LIVE},
            {"$set": {"counter": 0, "issued": 0}, "$inc": {"epoch": 1}},
            return_document=BEFORE,
            session=session,
        )
        office = before if before is not None else await self._live(ref, session)  # the second raises NotFound
        cursor = self._windows.find({"ref_office": ref}, session=session).sort("number_window", ASCENDING)
        windows = [(w["number_window"], w["served"], w["no_shows"]) async for w in cursor]
        await self._windows.update_many(
            {"ref_office": ref}, {"$set": {"served": 0, "no_shows": 0, "current_number": None}}, session=session
        )
        await self._services.update_many(  # served, but for an unknown time: kept out of the averages
            {"ref_office": ref, "outcome": "serving"}, {"$set": {"outcome": "served"}}, session=session
        )
        expired = await self._expire_waiting(ref, session)
        entry = reset_entry(ref, by, now, office, windows)
        await self._log(entry, session)
        return Reset(entry=entry, expired=expired)

    async def _expire_waiting(self, ref: str, session: AsyncClientSession) -> list[QueueNumber]:
        """Expire the office's waiting numbers inside the caller's transaction; return them, by number."""
        waiting = {"ref_office": ref, "status": "waiting"}
        docs = await self._numbers.find(waiting, session=session).sort("number", ASCENDING).to_list()
        await self._numbers.update_many(
            {**waiting, "_id": {"$in": [d["_id"] for d in docs]}},
            {"$set": {"status": "expired"}, "$unset": {"waiting_key": ""}},
            session=session,
        )
        return [number_of({**d, "status": "expired"}) for d in docs]

    async def audit(self, ref: str, limit: int) -> list[AuditEntry]:
        """Return the office's newest ``limit`` audit entries, newest first."""
        cursor = self._audit.find({"ref_office": ref}).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [AuditEntry.model_validate({**d, "id": d["_id"]}) async for d in cursor]

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
        """Take the agent off every window of the office and log it, in one transaction; return the windows freed.

        ``no_window_error`` (nothing written) when the transaction frees no window, however the
        caller's earlier read looked: the check is the removal's own result.
        """
        seated = {"ref_office": ref, "agent_id": agent_id}

        async def attempt(session: AsyncClientSession) -> list[int]:
            await self._change_layout(ref, session)
            docs = await self._windows.find(seated, {"number_window": 1}, session=session).to_list()
            await self._windows.update_many(
                {**seated, "_id": {"$in": [d["_id"] for d in docs]}}, {"$set": {"agent_id": None}}, session=session
            )
            windows = sorted(d["number_window"] for d in docs)
            if not windows:  # raised inside the transaction: it aborts, no audit entry
                raise no_window_error(ref, agent_id)
            await self._log(removal_entry(ref, agent_id, by, now, windows), session)
            return windows

        return await self._db.transaction(attempt)
