"""A press or a no-show moves the client's virtual number in the same step, on SQLite and on MongoDB."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from models.queue import Office, Service
from storage.database import Database
from storage.queue import QueueStore
from tests.storage.conftest import Opener

T0 = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
STORE_FAILED = (sqlite3.IntegrityError, DuplicateKeyError)

# Written beneath the store on purpose (its tables and collections): the store cannot be made
# to fail half-way through a press or a no-show any other way without mocking the database.


async def plant_service(db: Database, ref: str, epoch: int, number: int) -> None:
    """Store a service for ``number`` that nobody called, so the press that calls it fails at its service write."""
    if db.kind == "mongo":
        doc = {"_id": f"planted-{number}", "ref_office": ref, "epoch": epoch, "number": number, "outcome": "served"}
        await db.db["queue_services"].insert_one(doc)  # type: ignore[attr-defined]
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                "INSERT INTO queue_services (id, ref, epoch, number, window_number, agent_id, called_at, outcome) "
                "VALUES (?, ?, ?, ?, 9, 'nobody', ?, 'served')",
                (f"planted-{number}", ref, epoch, number, (T0 - timedelta(days=1)).isoformat()),
            )


async def plant_one_status_per_user(db: Database) -> None:
    """Add a unique index on (user, status) of virtual numbers: moving a user's second number to a status they
    already hold fails exactly at the virtual number's write."""
    if db.kind == "mongo":
        numbers = db.db["queue_numbers"]  # type: ignore[attr-defined]
        await numbers.create_index([("user_id", 1), ("status", 1)], unique=True, name="planted")
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute("CREATE UNIQUE INDEX planted ON queue_numbers (user_id, status)")


async def staffed(store: QueueStore) -> str:
    """Return the reference of a new one-window office with agent a1 at window 1."""
    ref = (await store.create_office("Counter", None, 1, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    return ref


def window_state(office: Office) -> tuple[int, int, int | None]:
    """Return window 1's served count, no-show count and current number."""
    w = office.windows[0]
    return w.served, w.no_shows, w.current_number


def outcomes(services: list[Service]) -> list[tuple[int, str]]:
    """Return (number, outcome) of each service."""
    return [(s.number, s.outcome) for s in services]


async def test_press_calls_the_waiting_number_it_takes(open_store: Opener) -> None:
    """The press returns the holder's number it moved to called; a number nobody took has no holder."""
    store, _ = await open_store()
    ref = await staffed(store)
    first, second = await store.take_number(ref, "u1", T0), await store.take_number(ref, "u2", T0)
    called = await store.call_next(ref, 1, "a1", T0 + timedelta(seconds=5))
    assert called.holder is not None
    assert (called.holder.id, called.holder.user_id, called.holder.number) == (first.id, "u1", 1)
    assert (called.holder.status, called.holder.number_window, called.holder.called_at) == (
        "called",
        1,
        T0 + timedelta(seconds=5),
    )
    assert await store.find_number(ref, 0, 1) == called.holder  # stored by that same call
    assert (await store.find_number(ref, 0, 2)).status == "waiting"  # type: ignore[union-attr]
    assert (await store.call_next(ref, 1, "a1", T0)).holder == (await store.find_number(ref, 0, 2))
    assert (await store.find_number(ref, 0, 2)).user_id == second.user_id  # type: ignore[union-attr]
    assert (await store.call_next(ref, 1, "a1", T0)).holder is None  # number 3: nobody took it


async def test_no_show_skips_the_called_number(open_store: Opener) -> None:
    """The no-show returns the holder's number it moved from called to no-show; a paper number has no holder."""
    store, _ = await open_store()
    ref = await staffed(store)
    await store.take_number(ref, "u1", T0)
    await store.take_number(ref, "u2", T0)
    await store.call_next(ref, 1, "a1", T0)
    skipped = await store.mark_no_show(ref, 1, "a1", T0)
    assert skipped.holder is not None and (skipped.holder.user_id, skipped.holder.status) == ("u1", "no_show")
    assert await store.find_number(ref, 0, 1) == skipped.holder
    assert (await store.find_number(ref, 0, 2)).status == "waiting"  # type: ignore[union-attr]
    await store.call_next(ref, 1, "a1", T0)  # u2's number 2
    await store.call_next(ref, 1, "a1", T0)  # number 3: nobody's; u2 was served
    assert (await store.mark_no_show(ref, 1, "a1", T0)).holder is None
    assert (await store.find_number(ref, 0, 2)).status == "called"  # type: ignore[union-attr]


async def test_press_failing_after_its_number_write_leaves_the_number_waiting(open_store: Opener) -> None:
    """A press that fails at its last writes undoes the number's move too, and everything else it did."""
    store, db = await open_store()
    ref = await staffed(store)
    await store.take_number(ref, "u1", T0)
    await store.take_number(ref, "u2", T0)
    await store.call_next(ref, 1, "a1", T0)
    await plant_service(db, ref, 0, 2)
    with pytest.raises(STORE_FAILED):
        await store.call_next(ref, 1, "a1", T0 + timedelta(seconds=30))
    office = await store.get_office(ref)
    assert (office.counter, window_state(office)) == (1, (1, 0, 1))
    assert (await store.find_number(ref, 0, 2)).status == "waiting"  # type: ignore[union-attr]
    assert outcomes(await store.services_between(ref, T0, None)) == [(1, "serving")]  # not closed either


async def test_press_failing_at_its_number_write_changes_nothing(open_store: Opener) -> None:
    """A press whose number's move fails leaves the counter, the window and the services as they were."""
    store, db = await open_store()
    ref = await staffed(store)
    await store.take_number(ref, "u1", T0)
    await store.call_next(ref, 1, "a1", T0)
    await store.take_number(ref, "u1", T0)  # number 2, also u1's
    await plant_one_status_per_user(db)  # u1 holds a called number already: number 2 cannot become called
    with pytest.raises(STORE_FAILED):
        await store.call_next(ref, 1, "a1", T0 + timedelta(seconds=30))
    office = await store.get_office(ref)
    assert (office.counter, window_state(office)) == (1, (1, 0, 1))
    assert (await store.find_number(ref, 0, 2)).status == "waiting"  # type: ignore[union-attr]
    assert outcomes(await store.services_between(ref, T0, None)) == [(1, "serving")]


async def test_no_show_failing_at_its_number_write_changes_nothing(open_store: Opener) -> None:
    """A no-show whose number's move fails leaves the service serving and the window's counts as they were."""
    store, db = await open_store()
    ref = await staffed(store)
    await store.take_number(ref, "u1", T0)
    await store.call_next(ref, 1, "a1", T0)
    await store.mark_no_show(ref, 1, "a1", T0)  # u1's number 1 is a no-show
    await store.take_number(ref, "u1", T0)
    await store.call_next(ref, 1, "a1", T0)  # u1's number 2 is called
    await plant_one_status_per_user(db)  # number 2 cannot become a no-show
    with pytest.raises(STORE_FAILED):
        await store.mark_no_show(ref, 1, "a1", T0)
    assert window_state(await store.get_office(ref)) == (1, 1, 2)
    assert (await store.find_number(ref, 0, 2)).status == "called"  # type: ignore[union-attr]
    assert outcomes(await store.services_between(ref, T0, None)) == [(1, "no_show"), (2, "serving")]
