"""Queue store races, on SQLite and on MongoDB: resets against presses, presses and recalls against a removal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from models.errors import Forbidden
from models.queue import QueueNumber, Reset, Service
from storage.database import Database
from tests.storage.conftest import Opener

T0 = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)


def by_window(services: list[Service], epoch: int) -> dict[int, list[int]]:
    """Return the numbers called at each window in ``epoch``, ascending."""
    called: dict[int, list[int]] = {}
    for s in sorted(services, key=lambda s: s.number):
        if s.epoch == epoch:
            called.setdefault(s.number_window, []).append(s.number)
    return called


async def test_resets_racing_presses_lose_no_press(open_store: Opener) -> None:
    """3 agents press while a manager resets twice (4 connections): every press counts in exactly one epoch.

    Each reset's logged previous values are exactly the presses of the epoch it closed, and
    the presses after it are all still counted (none zeroed, none closed by the reset).
    """
    agents, resets_wanted = 3, 2
    conns = [await open_store() for _ in range(agents + 1)]
    manager, _ = conns[agents]
    ref = (await manager.create_office("Rush", None, agents, "m1", T0)).ref_office
    for i in range(agents):
        await manager.assign_agent(ref, i + 1, f"a{i}", "m1", T0)
    pressed = [0] * agents
    resets: list[Reset] = []
    reached = [asyncio.Event() for _ in range(resets_wanted)]  # reset r waits for 5 * (r + 1) presses

    async def press(i: int) -> None:
        after_last_reset = 0
        while after_last_reset < 3 and pressed[i] < 40:
            await conns[i][0].call_next(ref, i + 1, f"a{i}", T0)
            pressed[i] += 1
            after_last_reset += len(resets) == resets_wanted
            for r, event in enumerate(reached):
                if sum(pressed) >= 5 * (r + 1):
                    event.set()

    async def reset() -> None:
        for event in reached:  # presses land before, and keep landing during, each reset
            await event.wait()
            resets.append(await manager.reset_counters(ref, "m1", T0))

    await asyncio.gather(reset(), *(press(i) for i in range(agents)))
    services = await manager.services_between(ref, T0, None)
    assert len(services) == sum(pressed)
    for epoch, done in enumerate(resets):
        called = by_window(services, epoch)
        assert done.entry.previous["epoch"] == epoch
        assert done.entry.previous["counter"] == sum(len(n) for n in called.values())
        assert {w["number_window"]: w["served"] for w in done.entry.previous["windows"]} == {
            w: len(called.get(w, [])) for w in range(1, agents + 1)
        }
    office = await manager.get_office(ref)
    called = by_window(services, resets_wanted)
    assert office.epoch == resets_wanted
    assert sorted(n for numbers in called.values() for n in numbers) == list(range(1, office.counter + 1))
    assert [(w.served, w.current_number) for w in office.windows] == [
        (len(called.get(w, [])), max(called.get(w, [None])))
        for w in range(1, agents + 1)  # type: ignore[type-var]
    ]
    serving = sorted((s.number_window, s.number) for s in services if s.outcome == "serving")
    assert serving == [(w, numbers[-1]) for w, numbers in sorted(called.items())]


@asynccontextmanager
async def removal_in_flight(db: Database, ref: str, agent_id: str) -> AsyncIterator[None]:
    """Take the agent off the office's windows in a transaction that commits only when the block ends.

    Written beneath the store on purpose (its tables and collections): the store's own
    ``remove_agent`` cannot be paused half-way.
    """
    if db.kind == "mongo":
        async with db.client.start_session() as session:  # type: ignore[attr-defined]
            await session.start_transaction()
            windows = db.db["queue_windows"]  # type: ignore[attr-defined]
            await windows.update_many(
                {"ref_office": ref, "agent_id": agent_id}, {"$set": {"agent_id": None}}, session=session
            )
            yield
            await session.commit_transaction()
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                "UPDATE queue_windows SET agent_id = NULL WHERE ref = ? AND agent_id = ?", (ref, agent_id)
            )
            yield


async def test_press_during_removal_gets_no_number(open_store: Opener) -> None:
    """A press that checks the seat while the agent's removal is being written is refused once it commits."""
    (store, _), (manager, manager_db) = await open_store(), await open_store()
    ref = (await manager.create_office("Desk", None, 1, "m1", T0)).ref_office
    await manager.assign_agent(ref, 1, "a1", "m1", T0)
    await store.call_next(ref, 1, "a1", T0)
    async with removal_in_flight(manager_db, ref, "a1"):
        pressing = asyncio.create_task(store.call_next(ref, 1, "a1", T0))
        await asyncio.sleep(0.3)  # the press reads the seat and tries to write while the removal is open
    with pytest.raises(Forbidden):
        await pressing
    office = await manager.get_office(ref)
    assert (office.counter, office.windows[0].served, office.windows[0].agent_id) == (1, 1, None)
    assert [s.number for s in await manager.services_between(ref, T0, None)] == [1]


async def test_recall_during_removal_announces_nothing(open_store: Opener) -> None:
    """A recall that checks the seat while the agent's removal is being written is refused once it commits."""
    (store, _), (manager, manager_db) = await open_store(), await open_store()
    ref = (await manager.create_office("Desk", None, 1, "m1", T0)).ref_office
    await manager.assign_agent(ref, 1, "a1", "m1", T0)
    await store.call_next(ref, 1, "a1", T0)
    assert (await store.recall(ref, 1, "a1")).recalls == 1
    async with removal_in_flight(manager_db, ref, "a1"):
        recalling = asyncio.create_task(store.recall(ref, 1, "a1"))
        await asyncio.sleep(0.3)  # the recall checks the seat and counts while the removal is open
    with pytest.raises(Forbidden):
        await recalling
    assert [(s.number, s.recalls) for s in await manager.services_between(ref, T0, None)] == [(1, 1)]


async def test_takes_racing_a_reset_are_expired_or_new(open_store: Opener) -> None:
    """3 clients take numbers while a manager resets: each number is listed as expired, or is of the new epoch."""
    takers = 3
    conns = [await open_store() for _ in range(takers + 1)]
    manager, _ = conns[takers]
    ref = (await manager.create_office("Queue", None, 1, "m1", T0)).ref_office
    taken: list[QueueNumber] = []
    started = asyncio.Event()

    async def take(i: int) -> None:
        for k in range(8):
            taken.append(await conns[i][0].take_number(ref, f"u{i}-{k}", T0))
            if len(taken) >= 4:
                started.set()

    async def reset() -> Reset:
        await started.wait()
        return await manager.reset_counters(ref, "m1", T0)

    done, *_ = await asyncio.gather(reset(), *(take(i) for i in range(takers)))
    assert len(taken) == 8 * takers
    old = sorted((n.user_id, n.number) for n in taken if n.epoch == 0)
    assert sorted((n.user_id, n.number) for n in done.expired) == old
    assert all(n.status == "expired" for n in done.expired)
    assert done.entry.previous["issued"] == len(old)
    new = sorted(n.number for n in taken if n.epoch == 1)
    assert new == list(range(1, len(new) + 1))
    assert (await manager.get_office(ref)).issued == len(new)
    for n in taken:
        stored = await manager.find_number(ref, n.epoch, n.number)
        assert stored is not None and stored.status == ("expired" if n.epoch == 0 else "waiting")
