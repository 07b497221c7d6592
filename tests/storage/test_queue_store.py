"""The queue store contract, on SQLite and on MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.errors import Conflict, Forbidden, NotFound
from storage import open_database
from storage.database import Database
from storage.queue import QueueStore, make_queue_store

T0 = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
async def opened(backend: str, settings_for: Any) -> AsyncIterator[tuple[Any, list[Database]]]:
    """Settings for a fresh database, and a list that closes every database opened on it."""
    settings = settings_for(backend)
    dbs: list[Database] = []
    yield settings, dbs
    for db in dbs:
        await db.close()


async def new_store(opened: tuple[Any, list[Database]]) -> QueueStore:
    """Open one more connection to the test database and return a queue store on it."""
    settings, dbs = opened
    db = await open_database(settings)
    dbs.append(db)
    store = make_queue_store(db)
    await store.init()
    return store


@pytest.fixture
async def store(opened: tuple[Any, list[Database]]) -> QueueStore:
    """A queue store on a fresh database of each backend."""
    return await new_store(opened)


async def test_refs_are_short_unique_and_never_reused(store: QueueStore) -> None:
    first = await store.create_office("Main Street", "1 Main St", 2, "m1", T0)
    assert first.ref_office == "ref01"
    assert [w.number_window for w in first.windows] == [1, 2]
    assert (first.counter, first.issued, first.epoch, first.manager_id) == (0, 0, 0, "m1")
    more = await asyncio.gather(*(store.create_office(f"Office {i}", None, 1, "m1", T0) for i in range(4)))
    refs = sorted(o.ref_office for o in more)
    assert refs == ["ref02", "ref03", "ref04", "ref05"]
    await store.delete_office("ref05", T0)
    again = await store.create_office("After delete", None, 1, "m1", T0)
    assert again.ref_office == "ref06"


async def test_unknown_and_deleted_offices_are_not_found(store: QueueStore) -> None:
    office = await store.create_office("Town Hall", None, 1, "m1", T0)
    ref = office.ref_office
    with pytest.raises(NotFound):
        await store.get_office("ref99")
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    number = await store.take_number(ref, "u1", T0)
    assert await store.delete_office(ref, T0) == ["u1"]
    with pytest.raises(NotFound) as err:
        await store.get_office(ref)
    assert err.value.details == {"ref_office": ref, "deleted": True}
    assert await store.live_offices([ref, "ref99"]) == []
    assert (await store.find_number(ref, 0, number.number)).status == "expired"  # type: ignore[union-attr]
    for attempt in (
        store.call_next(ref, 1, "a1", T0),
        store.take_number(ref, "u2", T0),
        store.reset_counters(ref, "m1", T0),
        store.assign_agent(ref, 1, "a2", "m1", T0),
        store.update_office(ref, "x", None, None),
        store.delete_office(ref, T0),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert await store.offices_managed_by("m1") == []
    assert await store.offices_staffed_by("a1") == []


async def test_update_grows_windows_only(store: QueueStore) -> None:
    ref = (await store.create_office("Depot", None, 2, "m1", T0)).ref_office
    assert await store.assign_agent(ref, 7, "a1", "m1", T0) is True
    grown = await store.update_office(ref, "Depot North", "2 North Rd", 4)
    assert [w.number_window for w in grown.windows] == [1, 2, 3, 4, 7]
    assert (grown.name, grown.address) == ("Depot North", "2 North Rd")
    with pytest.raises(Conflict):
        await store.update_office(ref, "Shrunk", None, 3)
    assert (await store.get_office(ref)).name == "Depot North"


async def test_search_by_name_or_reference_prefix(store: QueueStore) -> None:
    a = await store.create_office("Central Post Office", None, 1, "m1", T0)
    b = await store.create_office("Harbour post", None, 1, "m2", T0)
    c = await store.create_office("50% off (Tax_Office)", None, 1, "m2", T0)
    assert [o.ref_office for o in await store.search_offices("POST", 10)] == [a.ref_office, b.ref_office]
    assert [o.ref_office for o in await store.search_offices(c.ref_office, 10)] == [c.ref_office]
    assert len(await store.search_offices("ref0", 10)) == 3
    assert len(await store.search_offices("ref0", 2)) == 2
    assert [o.ref_office for o in await store.search_offices("%", 10)] == [c.ref_office]
    assert [o.ref_office for o in await store.search_offices("x_o", 10)] == [c.ref_office]
    assert await store.search_offices("l_po", 10) == []  # "_" is not a wildcard
    assert await store.search_offices(".*", 10) == []
    assert await store.search_offices("f01", 10) == []  # a reference matches by prefix only


async def test_assign_moves_agent_and_remove_frees_windows(store: QueueStore) -> None:
    ref = (await store.create_office("Clinic", None, 2, "m1", T0)).ref_office
    assert await store.assign_agent(ref, 1, "a1", "m1", T0) is False
    assert await store.assign_agent(ref, 3, "a1", "m1", T0) is True
    office = await store.get_office(ref)
    assert {w.number_window: w.agent_id for w in office.windows} == {1: None, 2: None, 3: "a1"}
    assert await store.assign_agent(ref, 3, "a2", "m1", T0) is False  # replaces a1 at window 3
    assert await store.assign_agent(ref, 2, "a1", "m1", T0) is False
    assert [o.ref_office for o in await store.offices_staffed_by("a1")] == [ref]
    assert await store.remove_agent(ref, "a1", "m1", T0) == [2]
    with pytest.raises(NotFound) as err:  # nothing to free: nothing written, not even an audit entry
        await store.remove_agent(ref, "a1", "m1", T0)
    assert err.value.details == {"agent_id": "a1"}
    assert (await store.get_office(ref)).open_windows == 1
    logged = [(e.action, e.previous, e.details) for e in reversed(await store.audit(ref, 10))]
    assert logged == [
        (
            "assign_agent",
            {"agent_id": None, "agent_windows": []},
            {"agent_id": "a1", "number_window": 1, "new_window": False},
        ),
        (
            "assign_agent",
            {"agent_id": None, "agent_windows": [1]},
            {"agent_id": "a1", "number_window": 3, "new_window": True},
        ),
        (
            "assign_agent",
            {"agent_id": "a1", "agent_windows": []},
            {"agent_id": "a2", "number_window": 3, "new_window": False},
        ),
        (
            "assign_agent",
            {"agent_id": None, "agent_windows": []},
            {"agent_id": "a1", "number_window": 2, "new_window": False},
        ),
        ("delete_agent", {"agent_windows": [2]}, {"agent_id": "a1"}),
    ]


async def test_calls_record_services_and_durations(store: QueueStore) -> None:
    ref = (await store.create_office("Bank", None, 2, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    await store.assign_agent(ref, 2, "a2", "m1", T0)
    with pytest.raises(Forbidden):
        await store.call_next(ref, 2, "a1", T0)
    with pytest.raises(NotFound):
        await store.call_next(ref, 9, "a1", T0)
    first = await store.call_next(ref, 1, "a1", T0)
    assert (first.service.number, first.closed) == (1, None)
    second = await store.call_next(ref, 2, "a2", T0 + timedelta(seconds=30))
    assert second.service.number == 2
    third = await store.call_next(ref, 1, "a1", T0 + timedelta(seconds=90))
    assert third.service.number == 3
    assert third.closed is not None and third.closed.number == 1 and third.closed.duration_seconds == 90
    office = await store.get_office(ref)
    assert office.counter == 3
    assert [(w.served, w.current_number) for w in office.windows] == [(2, 3), (1, 2)]
    assert await store.recent_durations(ref, 20) == [90.0]
    between = await store.services_between(ref, T0 + timedelta(seconds=1), T0 + timedelta(seconds=90))
    assert [s.number for s in between] == [2]
    assert (between[0].number_window, between[0].agent_id, between[0].outcome) == (2, "a2", "serving")
    assert [s.number for s in await store.services_between(ref, T0, None)] == [1, 2, 3]


async def test_recall_and_no_show(store: QueueStore) -> None:
    ref = (await store.create_office("Embassy", None, 1, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    for attempt in (store.recall(ref, 1, "a1"), store.mark_no_show(ref, 1, "a1", T0)):
        with pytest.raises(Conflict):
            await attempt
    await store.call_next(ref, 1, "a1", T0)
    assert (await store.recall(ref, 1, "a1")).recalls == 1
    assert (await store.recall(ref, 1, "a1")).recalls == 2
    with pytest.raises(Forbidden):
        await store.recall(ref, 1, "a2")
    skipped = await store.mark_no_show(ref, 1, "a1", T0 + timedelta(seconds=5))
    assert (skipped.service.number, skipped.service.outcome, skipped.holder) == (1, "no_show", None)
    window = (await store.get_office(ref)).windows[0]
    assert (window.served, window.no_shows, window.current_number) == (0, 1, None)
    with pytest.raises(Conflict):
        await store.mark_no_show(ref, 1, "a1", T0)
    assert (await store.call_next(ref, 1, "a1", T0 + timedelta(seconds=9))).closed is None
    assert await store.recent_durations(ref, 20) == []


async def test_reset_logs_previous_values_and_starts_a_new_epoch(store: QueueStore) -> None:
    ref = (await store.create_office("Library", None, 2, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    await store.take_number(ref, "u1", T0)
    await store.take_number(ref, "u2", T0)
    await store.call_next(ref, 1, "a1", T0)  # calls u1's number
    await store.call_next(ref, 1, "a1", T0)  # calls u2's number ...
    await store.mark_no_show(ref, 1, "a1", T0)  # ... which u2 misses
    waiting = await store.take_number(ref, "u3", T0)
    reset = await store.reset_counters(ref, "m1", T0 + timedelta(minutes=1))
    entry = reset.entry
    assert [(n.user_id, n.number, n.status) for n in reset.expired] == [("u3", 3, "expired")]  # only u3 still waited
    assert (entry.action, entry.by, entry.at) == ("reset_counters", "m1", T0 + timedelta(minutes=1))
    assert entry.previous == {
        "counter": 2,
        "issued": 3,
        "epoch": 0,
        "windows": [
            {"number_window": 1, "served": 1, "no_shows": 1},
            {"number_window": 2, "served": 0, "no_shows": 0},
        ],
    }
    office = await store.get_office(ref)
    assert (office.counter, office.issued, office.epoch) == (0, 0, 1)
    assert [(w.served, w.no_shows, w.current_number) for w in office.windows] == [(0, 0, None), (0, 0, None)]
    assert (await store.find_number(ref, 0, waiting.number)).status == "expired"  # type: ignore[union-attr]
    assert (await store.call_next(ref, 1, "a1", T0)).service.number == 1  # numbers restart in the new epoch
    assert (await store.take_number(ref, "u3", T0)).number == 2
    assert [a.action for a in await store.audit(ref, 10)] == ["reset_counters", "assign_agent"]


async def test_audit_is_newest_first(store: QueueStore) -> None:
    ref = (await store.create_office("Tax office", None, 2, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    await store.reset_counters(ref, "m1", T0 + timedelta(minutes=1))
    await store.remove_agent(ref, "a1", "m2", T0 + timedelta(minutes=2))
    newest = await store.audit(ref, 2)
    assert [(e.action, e.by) for e in newest] == [("delete_agent", "m2"), ("reset_counters", "m1")]
    assert [e.action for e in await store.audit(ref, 10)] == ["delete_agent", "reset_counters", "assign_agent"]
    assert await store.audit("ref99", 5) == []


async def test_numbers_waiting_called_and_soon(store: QueueStore) -> None:
    ref = (await store.create_office("Pharmacy", None, 1, "m1", T0)).ref_office
    await store.assign_agent(ref, 1, "a1", "m1", T0)
    await store.call_next(ref, 1, "a1", T0)  # a paper ticket: the counter is ahead of the dispenser
    first = await store.take_number(ref, "u1", T0)
    assert first.number == 2
    with pytest.raises(Conflict) as err:
        await store.take_number(ref, "u1", T0)
    assert err.value.details == {"number": 2}
    others = [await store.take_number(ref, f"u{i}", T0) for i in range(2, 8)]
    assert [n.number for n in others] == [3, 4, 5, 6, 7, 8]
    assert [n.number for n in await store.claim_soon(ref, 0, 5)] == [2, 3, 4, 5]
    assert await store.claim_soon(ref, 0, 5) == []
    await store.call_next(ref, 1, "a1", T0)  # number 2: u1's
    assert (await store.latest_number(ref, 0, "u1")).status == "called"  # type: ignore[union-attr]
    again = await store.take_number(ref, "u1", T0)  # called numbers no longer block a new one
    assert again.number == 9
    assert (await store.latest_number(ref, 0, "u2")).status == "waiting"  # type: ignore[union-attr]
    assert await store.latest_number(ref, 1, "u1") is None


async def test_concurrent_takes_get_distinct_numbers(store: QueueStore) -> None:
    ref = (await store.create_office("Stadium", None, 1, "m1", T0)).ref_office
    numbers = await asyncio.gather(*(store.take_number(ref, f"user{i}", T0) for i in range(10)))
    assert sorted(n.number for n in numbers) == list(range(1, 11))


async def test_concurrent_calls_from_separate_connections(opened: Any) -> None:
    """50 presses from 5 agents, each on its own database connection (as separate processes): every number once."""
    agents, presses = 5, 10
    stores = [await new_store(opened) for _ in range(agents)]
    ref = (await stores[0].create_office("Busy", None, agents, "m1", T0)).ref_office
    for i in range(agents):
        await stores[0].assign_agent(ref, i + 1, f"agent{i}", "m1", T0)

    async def press(i: int) -> list[int]:
        return [(await stores[i].call_next(ref, i + 1, f"agent{i}", T0)).service.number for _ in range(presses)]

    got = await asyncio.gather(*(press(i) for i in range(agents)))
    numbers = sorted(n for per_agent in got for n in per_agent)
    assert numbers == list(range(1, agents * presses + 1))
    office = await stores[0].get_office(ref)
    assert office.counter == agents * presses
    assert sum(w.served for w in office.windows) == agents * presses
    services = await stores[0].services_between(ref, T0, None)
    assert sorted(s.number for s in services) == numbers
    for i, per_agent in enumerate(got):
        assert {s.number for s in services if s.number_window == i + 1} == set(per_agent)


async def test_tracking_is_remembered_per_user(store: QueueStore) -> None:
    assert await store.tracked_by("u1") == []
    await store.track("u1", ["ref02", "ref01"], T0)
    await store.track("u1", ["ref01", "ref03"], T0)  # again: no duplicate, no error
    await store.track("u2", ["ref01"], T0)
    assert await store.tracked_by("u1") == ["ref01", "ref02", "ref03"]
    await asyncio.gather(store.track("u3", ["ref01"], T0), store.track("u3", ["ref01"], T0))  # two sockets at once
    assert await store.tracked_by("u3") == ["ref01"]
    await store.untrack("u1", ["ref02", "ref09"])
    assert await store.tracked_by("u1") == ["ref01", "ref03"]
    assert await store.tracked_by("u2") == ["ref01"]
