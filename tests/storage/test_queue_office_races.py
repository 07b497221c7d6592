"""Office and seat changes are all or nothing, on SQLite and on MongoDB: assignments, removals, creation, updates."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from pymongo.errors import BulkWriteError

from models.errors import NotFound
from models.queue import Office
from storage.database import Database
from storage.queue import office_ref
from tests.storage.conftest import Opener

T0 = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)

# Written beneath the store on purpose (its tables and collections): the store cannot be made
# to fail or pause half-way through an operation any other way without mocking the database.


async def plant_window(db: Database, ref: str, number: int) -> None:
    """Store a window of ``ref`` without its office, as a half-done write would have left it."""
    if db.kind == "mongo":
        doc = {"_id": f"{ref}#{number}", "ref_office": ref, "number_window": number, "agent_id": None}
        await db.db["queue_windows"].insert_one(doc)  # type: ignore[attr-defined]
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute("INSERT INTO queue_windows (ref, number) VALUES (?, ?)", (ref, number))


async def drop_windows(db: Database, ref: str) -> None:
    """Delete every window of ``ref``."""
    if db.kind == "mongo":
        await db.db["queue_windows"].delete_many({"ref_office": ref})  # type: ignore[attr-defined]
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute("DELETE FROM queue_windows WHERE ref = ?", (ref,))


async def window_numbers(db: Database, ref: str) -> list[int]:
    """Return the numbers of every stored window of ``ref``, deleted office or not."""
    if db.kind == "mongo":
        cursor = db.db["queue_windows"].find({"ref_office": ref})  # type: ignore[attr-defined]
        return sorted([w["number_window"] async for w in cursor])
    rows = await db.fetch_all("SELECT number FROM queue_windows WHERE ref = ?", (ref,))  # type: ignore[attr-defined]
    return sorted(r["number"] for r in rows)


@asynccontextmanager
async def deletion_in_flight(db: Database, ref: str) -> AsyncIterator[None]:
    """Mark the office deleted in a transaction that commits only when the block ends."""
    if db.kind == "mongo":
        async with db.client.start_session() as session:  # type: ignore[attr-defined]
            await session.start_transaction()
            offices = db.db["queue_offices"]  # type: ignore[attr-defined]
            await offices.update_one({"_id": ref}, {"$set": {"deleted_at": T0}}, session=session)
            yield
            await session.commit_transaction()
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute("UPDATE queue_offices SET deleted_at = ? WHERE ref = ?", (T0.isoformat(), ref))
            yield


def seats(office: Office, agent_id: str) -> list[int]:
    """Return the windows of the office where the agent sits."""
    return [w.number_window for w in office.windows if w.agent_id == agent_id]


async def test_one_agent_assigned_to_two_windows_at_once_sits_at_one(open_store: Opener) -> None:
    """Two managers seat the same agent at two windows at the same instant: the agent ends at exactly one."""
    (first, _), (second, _) = await open_store(), await open_store()
    ref = (await first.create_office("Twin", None, 2, "m1", T0)).ref_office
    for round_ in range(8):
        agent = f"a{round_}"  # not seated yet: no window of theirs for the two assignments to meet on
        await asyncio.gather(first.assign_agent(ref, 1, agent, "m1", T0), second.assign_agent(ref, 2, agent, "m1", T0))
        assert seats(await first.get_office(ref), agent) in ([1], [2]), f"round {round_}"


async def test_remove_agent_returns_the_windows_it_freed(open_store: Opener) -> None:
    """A removal racing a move of the same agent reports, and logs, exactly the window it took the agent off."""
    (first, _), (second, _) = await open_store(), await open_store()
    ref = (await first.create_office("Move", None, 2, "m1", T0)).ref_office
    for round_ in range(8):
        agent = f"a{round_}"
        await first.assign_agent(ref, 1, agent, "m1", T0)
        removing = first.remove_agent(ref, agent, "m1", T0)
        freed, _ = await asyncio.gather(removing, second.assign_agent(ref, 2, agent, "m2", T0))
        left = seats(await first.get_office(ref), agent)
        # removal first: it freed window 1 and the move seated the agent at 2; move first: the removal freed 2
        assert (freed, left) in (([1], [2]), ([2], [])), f"round {round_}"
        logged = {e.by: e.previous["agent_windows"] for e in await first.audit(ref, 2)}
        assert logged == ({"m1": [1], "m2": []} if freed == [1] else {"m1": [2], "m2": [1]}), f"round {round_}"


async def test_create_failing_half_way_leaves_no_office(open_store: Opener) -> None:
    """An office whose windows cannot be stored is not stored either; once the way is clear, creation works."""
    store, db = await open_store()
    first = await store.create_office("First", None, 1, "m1", T0)
    stray = office_ref(2)  # the reference the next office gets
    await plant_window(db, stray, 2)
    with pytest.raises((BulkWriteError, sqlite3.IntegrityError)):
        await store.create_office("Second", None, 3, "m1", T0)
    with pytest.raises(NotFound):
        await store.get_office(stray)
    assert [o.ref_office for o in await store.offices_managed_by("m1")] == [first.ref_office]
    assert await window_numbers(db, stray) == [2]  # the stray is left as found
    await drop_windows(db, stray)
    second = await store.create_office("Second", None, 3, "m1", T0)
    assert [w.number_window for w in second.windows] == [1, 2, 3]
    assert [o.ref_office for o in await store.offices_managed_by("m1")] == [first.ref_office, second.ref_office]


async def test_update_racing_a_deletion_changes_nothing(open_store: Opener) -> None:
    """An update that reads the office while its deletion is being written adds no window to the deleted office."""
    (store, _), (manager, manager_db) = await open_store(), await open_store()
    ref = (await manager.create_office("Gone", None, 1, "m1", T0)).ref_office
    async with deletion_in_flight(manager_db, ref):
        updating = asyncio.create_task(store.update_office(ref, "Renamed", None, 3))
        await asyncio.sleep(0.3)  # the update checks the office and writes while the deletion is open
    with pytest.raises(NotFound):
        await updating
    assert await window_numbers(manager_db, ref) == [1]
