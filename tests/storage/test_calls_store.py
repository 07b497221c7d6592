"""The call store contract, on SQLite and on MongoDB: transitions are conditional and win once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from config import Settings
from models.calls import OPEN_STATES, Call, CallProtocol, CallState, EndReason
from models.common import utc_now
from models.errors import Conflict, NotFound
from storage import open_database
from storage.calls import CallStore, make_call_store
from storage.database import Database, new_id

_now = utc_now()
NOW = _now.replace(microsecond=_now.microsecond // 1000 * 1000)  # MongoDB keeps milliseconds


def make_call(protocol: CallProtocol = CallProtocol.DESKLINE, **overrides: Any) -> Call:
    """A ringing call placed now that rings for 45 s."""
    values: dict[str, Any] = {
        "id": new_id(),
        "protocol": protocol,
        "state": CallState.RINGING,
        "media": "audio",
        "caller_user": "u-caller",
        "caller_sid": "sid-caller",
        "caller_instance": "inst-a",
        "invited": ["u-callee"],
        "created_at": NOW,
        "ring_deadline": NOW + timedelta(seconds=45),
    }
    return Call(**{**values, **overrides})


@pytest.fixture
async def open_store(settings_for, backend: str) -> AsyncIterator[Callable[[], Any]]:  # type: ignore[no-untyped-def]
    """Factory of call stores, each on its own connection to one shared database."""
    settings: Settings = settings_for(backend)
    opened: list[Database] = []

    async def factory() -> CallStore:
        db = await open_database(settings)
        opened.append(db)
        store = make_call_store(db)
        await store.init()
        return store

    yield factory
    for db in opened:
        await db.close()


@pytest.fixture
async def store(open_store) -> CallStore:  # type: ignore[no-untyped-def]
    """One call store."""
    return await open_store()


async def test_create_and_get(store: CallStore) -> None:
    call = make_call(invited=["a", "b"], caller_name="Ana")
    await store.create(call)
    got = await store.get(call.id)
    assert got == call
    with pytest.raises(NotFound):
        await store.get(new_id())


async def test_only_one_of_many_concurrent_answers_wins(open_store) -> None:  # type: ignore[no-untyped-def]
    stores = [await open_store() for _ in range(5)]
    call = make_call(invited=["u1", "u2", "u3", "u4", "u5"])
    await stores[0].create(call)
    results = await asyncio.gather(
        *(s.answer(call.id, f"u{i + 1}", f"sid-{i}", "inst-b", NOW) for i, s in enumerate(stores))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await stores[0].get(call.id)
    assert stored.state == CallState.ACTIVE and stored.callee_sid == winners[0].callee_sid
    assert stored.callee_instance == "inst-b" and stored.answered_at is not None


async def test_answer_needs_a_ringing_call_before_its_deadline(store: CallStore) -> None:
    late = make_call()
    await store.create(late)
    assert await store.answer(late.id, "u-callee", "s", "i", NOW + timedelta(seconds=46)) is None
    ended = make_call()
    await store.create(ended)
    assert await store.end(ended.id, EndReason.HANGUP, "u-caller", NOW, OPEN_STATES) is not None
    assert await store.answer(ended.id, "u-callee", "s", "i", NOW) is None


async def test_end_only_from_the_given_states_and_only_once(store: CallStore) -> None:
    call = make_call()
    await store.create(call)
    assert await store.answer(call.id, "u-callee", "sid-callee", "inst-b", NOW) is not None
    assert await store.end(call.id, EndReason.REJECTED, "u-callee", NOW, (CallState.RINGING,)) is None
    ended = await store.end(call.id, EndReason.HANGUP, "u-caller", NOW, OPEN_STATES)
    assert ended is not None and ended.state == CallState.ENDED
    assert ended.end_reason == EndReason.HANGUP and ended.ended_by == "u-caller" and ended.ended_at is not None
    assert await store.end(call.id, EndReason.HANGUP, "u-caller", NOW, OPEN_STATES) is None


async def test_reject_records_each_decliner_once(store: CallStore) -> None:
    call = make_call(invited=["a", "b"])
    await store.create(call)
    first = await store.reject(call.id, "a")
    again = await store.reject(call.id, "a")
    assert first is not None and again is not None and again.rejected == ["a"]
    both = await store.reject(call.id, "b")
    assert both is not None and sorted(both.rejected) == ["a", "b"] and both.state == CallState.RINGING
    await store.end(call.id, EndReason.REJECTED, "b", NOW, (CallState.RINGING,))
    assert await store.reject(call.id, "a") is None


async def test_open_calls_of_a_socket(store: CallStore) -> None:
    placed = make_call(caller_sid="s1")
    answered = make_call(caller_sid="s9")
    finished = make_call(caller_sid="s1")
    for call in (placed, answered, finished):
        await store.create(call)
    await store.answer(answered.id, "u-callee", "s1", "inst-b", NOW)
    await store.end(finished.id, EndReason.HANGUP, None, NOW, OPEN_STATES)
    assert sorted(c.id for c in await store.open_calls_of_socket("s1")) == sorted([placed.id, answered.id])
    assert await store.open_calls_of_socket("nobody") == []


async def test_ringing_for_matches_refs_and_protocol_newest_first(store: CallStore) -> None:
    older = make_call(CallProtocol.DOWELL, invited=["sid-b"], created_at=NOW - timedelta(seconds=5))
    newer = make_call(CallProtocol.DOWELL, invited=["user-b"])
    deskline = make_call(CallProtocol.DESKLINE, invited=["user-b"])
    other = make_call(CallProtocol.DOWELL, invited=["sid-c"])
    for call in (older, newer, deskline, other):
        await store.create(call)
    found = await store.ringing_for(CallProtocol.DOWELL, ["sid-b", "user-b"])
    assert [c.id for c in found] == [newer.id, older.id]
    await store.answer(newer.id, "user-b", "sid-x", "i", NOW)
    assert [c.id for c in await store.ringing_for(CallProtocol.DOWELL, ["sid-b", "user-b"])] == [older.id]
    assert [c.id for c in await store.ringing_for(CallProtocol.DESKLINE, ["user-b"])] == [deskline.id]


async def test_expire_ringing_ends_each_overdue_call_once(store: CallStore) -> None:
    overdue = make_call(ring_deadline=NOW - timedelta(seconds=1))
    fresh = make_call()
    answered = make_call(ring_deadline=NOW + timedelta(seconds=1))
    for call in (overdue, fresh, answered):
        await store.create(call)
    await store.answer(answered.id, "u-callee", "s", "i", NOW)
    expired = await store.expire_ringing(NOW)
    assert [c.id for c in expired] == [overdue.id] and expired[0].end_reason == EndReason.MISSED
    assert await store.expire_ringing(NOW) == []
    assert (await store.get(fresh.id)).state == CallState.RINGING
    assert (await store.get(answered.id)).state == CallState.ACTIVE


async def test_end_calls_of_a_dead_instance(store: CallStore) -> None:
    placed_there = make_call(caller_instance="dead")
    answered_there = make_call(caller_instance="alive")
    elsewhere = make_call(caller_instance="alive")
    for call in (placed_there, answered_there, elsewhere):
        await store.create(call)
    await store.answer(answered_there.id, "u-callee", "s", "dead", NOW)
    lost = await store.end_calls_of_instance("dead", NOW)
    assert sorted(c.id for c in lost) == sorted([placed_there.id, answered_there.id])
    assert {c.end_reason for c in lost} == {EndReason.INSTANCE_LOST}
    assert await store.end_calls_of_instance("dead", NOW) == []
    assert (await store.get(elsewhere.id)).state == CallState.RINGING


async def test_busy_lists_the_parties_of_active_calls_only(store: CallStore) -> None:
    active = make_call(caller_user="ana", invited=["bob", "cy"])
    ringing = make_call(caller_user="dan", invited=["eve"])
    finished = make_call(caller_user="fay", invited=["gus"])
    visitor = make_call(caller_user=None, invited=["hal"])
    for call in (active, ringing, finished, visitor):
        await store.create(call)
    await store.answer(active.id, "bob", "s-bob", "i", NOW)
    await store.answer(finished.id, "gus", "s-gus", "i", NOW)
    await store.end(finished.id, EndReason.HANGUP, "gus", NOW, OPEN_STATES)
    await store.answer(visitor.id, "hal", "s-hal", "i", NOW)
    everyone = ["ana", "bob", "cy", "dan", "eve", "fay", "gus", "hal", "nobody"]
    assert await store.busy(everyone) == {"ana", "bob", "hal"}
    assert await store.busy(["cy", "eve"]) == set()
    assert await store.busy([]) == set()


async def test_answer_is_refused_while_a_party_holds_another_active_call(store: CallStore) -> None:
    talking = make_call(caller_user="ana", invited=["bob"])
    to_bob = make_call(caller_user="cy", invited=["bob"])  # rang bob before he answered ana
    from_ana = make_call(caller_user="ana", invited=["dan"])  # ana placed it before bob answered
    for call in (talking, to_bob, from_ana):
        await store.create(call)
    assert await store.answer(talking.id, "bob", "s-bob", "i", NOW) is not None
    for call, answerer, held in ((to_bob, "bob", "bob"), (from_ana, "dan", "ana")):
        with pytest.raises(Conflict) as refused:
            await store.answer(call.id, answerer, f"s-{answerer}", "i", NOW)
        assert refused.value.details == {"call_id": call.id, "user_id": held, "reason": "busy"}
        assert await store.get(call.id) == call  # nothing changed: still ringing, no callee
    late = make_call(caller_user="cy", invited=["bob"], ring_deadline=NOW - timedelta(seconds=1))
    await store.create(late)
    assert await store.answer(late.id, "bob", "s-bob", "i", NOW) is None  # not ringing beats busy
    await store.end(talking.id, EndReason.HANGUP, "ana", NOW, OPEN_STATES)
    assert (await store.answer(to_bob.id, "bob", "s-bob", "i", NOW)) is not None
    assert (await store.answer(from_ana.id, "dan", "s-dan", "i", NOW)) is not None
    assert await store.busy(["ana", "bob", "cy", "dan"]) == {"ana", "bob", "cy", "dan"}


async def test_anonymous_parties_never_make_anyone_busy(store: CallStore) -> None:
    visitors = [make_call(caller_user=None, invited=[agent]) for agent in ("a1", "a2")]
    dowell = [make_call(CallProtocol.DOWELL, caller_user=None, invited=[f"sid-{n}"]) for n in range(2)]
    for call in (*visitors, *dowell):
        await store.create(call)
    for call, answerer in zip(visitors + dowell, ["a1", "a2", None, None], strict=True):
        answered = await store.answer(call.id, answerer, f"s-{call.id}", "i", NOW)
        assert answered is not None and answered.state == CallState.ACTIVE
    assert await store.busy(["a1", "a2"]) == {"a1", "a2"}


async def answer_at_once(stores: list[CallStore], calls: list[Call], users: list[str]) -> list[Any]:
    """Answer ``calls[n]`` as ``users[n]`` through ``stores[n]``, all at once; results or raised errors."""
    answers = zip(stores, calls, users, strict=True)
    return await asyncio.gather(
        *(s.answer(c.id, u, f"sid-{n}", "i", NOW) for n, (s, c, u) in enumerate(answers)), return_exceptions=True
    )


async def test_one_user_answering_two_ringing_calls_at_once_holds_one(open_store) -> None:  # type: ignore[no-untyped-def]
    stores = [await open_store() for _ in range(2)]  # two connections, as two server instances have
    for round_ in range(3):
        calls = [make_call(caller_user=f"caller-{round_}-{n}", invited=[f"bob-{round_}"]) for n in range(2)]
        for call in calls:
            await stores[0].create(call)
        results = await answer_at_once(stores, calls, [f"bob-{round_}"] * 2)
        won = [r for r in results if isinstance(r, Call)]
        lost = [r for r in results if isinstance(r, Conflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].details["user_id"] == f"bob-{round_}" and lost[0].details["reason"] == "busy"
        states = sorted([(await stores[0].get(c.id)).state for c in calls])
        assert states == [CallState.ACTIVE, CallState.RINGING]


async def test_one_caller_answered_by_two_users_at_once_holds_one(open_store) -> None:  # type: ignore[no-untyped-def]
    stores = [await open_store() for _ in range(2)]
    calls = [make_call(caller_user="ana", invited=[callee]) for callee in ("bob", "cy")]
    for call in calls:
        await stores[0].create(call)
    results = await answer_at_once(stores, calls, ["bob", "cy"])
    assert sorted(type(r).__name__ for r in results) == ["Call", "Conflict"], results
    lost = next(r for r in results if isinstance(r, Conflict))
    assert lost.details["user_id"] == "ana"
    assert len(await stores[1].busy(["bob", "cy"])) == 1
