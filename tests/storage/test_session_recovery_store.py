"""Connection-state recovery store contract, on SQLite, MongoDB and Redis: increasing offsets, packets matched by
room, sessions taken once, idempotency keys claimed once, trimming by time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.session_recovery import SavedSession
from storage import open_database
from storage.session_recovery import SessionRecoveryStore, make_session_recovery_store

WINDOW = 0.5  # seconds a session or key lives in these tests


def now() -> datetime:
    """The real time (Redis times its entries itself)."""
    return datetime.now(UTC)


@pytest.fixture(params=["sqlite", "mongo", "redis"])
async def store(request: pytest.FixtureRequest, settings_for: Any, redis_url: str) -> AsyncIterator[Any]:
    """An empty recovery store of each kind in turn."""
    db = await open_database(settings_for("mongo" if request.param == "mongo" else "sqlite"))
    redis = None
    if request.param == "redis":
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
    channel = f"contract-{uuid.uuid4().hex}"
    made = make_session_recovery_store(db, redis, channel, WINDOW)
    await made.init()
    yield made
    if redis is not None:
        keys = [key async for key in redis.scan_iter(f"deskline:{channel}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    await db.close()


async def test_offsets_increase_and_packets_match_rooms_and_skips(store: SessionRecoveryStore) -> None:
    to_a = await store.add_packet('["e",1]', ["room:a"], [], now())
    to_b = await store.add_packet('["e",2]', ["room:b"], [], now())
    to_all = await store.add_packet('["e",3]', [], [], now())
    skips_me = await store.add_packet('["e",4]', ["room:a", "room:c"], ["me"], now())
    to_ac = await store.add_packet('["e",5]', ["room:a", "room:c"], [], now())
    assert to_a < to_b < to_all < skips_me < to_ac
    assert await store.last_offset() == to_ac

    found = await store.packets_after(0, ["room:a", "room:c", "me"], "me")
    assert [(p.offset, p.data) for p in found] == [(to_a, '["e",1]'), (to_all, '["e",3]'), (to_ac, '["e",5]')]
    assert [p.data for p in await store.packets_after(to_a, ["room:a"], "other")] == ['["e",3]', '["e",4]', '["e",5]']
    assert await store.packets_after(to_ac, ["room:a"], "me") == []
    assert [p.data for p in await store.packets_after(0, [], "x")] == ['["e",3]']  # in no room: only broadcasts


async def test_a_session_is_taken_once_and_not_after_it_expires(store: SessionRecoveryStore) -> None:
    kept = SavedSession("pid-1", "sid-1", ["chat:lobby"], "user:u1:agent", 7)
    await store.save_session(kept, now() + timedelta(seconds=WINDOW))
    taken = await asyncio.gather(*(store.take_session("pid-1", now()) for _ in range(5)))
    assert [t for t in taken if t is not None] == [kept]
    assert await store.take_session("unknown", now()) is None

    await store.save_session(SavedSession("pid-2", "sid-2"), now() + timedelta(seconds=WINDOW))
    await asyncio.sleep(WINDOW + 0.3)
    assert await store.take_session("pid-2", now()) is None


async def test_a_request_key_is_claimed_once_and_its_ack_answers_the_retries(store: SessionRecoveryStore) -> None:
    expires = now() + timedelta(seconds=WINDOW)
    claims = await asyncio.gather(*(store.claim_request("pid-1", "k", expires) for _ in range(6)))
    assert sum(c.new for c in claims) == 1
    assert all(c.ack is None for c in claims)  # still running: no ack yet
    await store.finish_request("pid-1", "k", '[{"ok":true}]')
    again = await store.claim_request("pid-1", "k", expires)
    assert not again.new and again.ack == '[{"ok":true}]'
    assert (await store.claim_request("pid-2", "k", expires)).new  # another session's key is its own


async def test_trim_forgets_old_packets_and_keeps_offsets_increasing(store: SessionRecoveryStore) -> None:
    old = await store.add_packet('["e","old"]', ["r"], [], now() - timedelta(seconds=5))
    await asyncio.sleep(0.01)
    await store.trim(now(), now())
    assert await store.packets_after(0, ["r"], "s") == []
    new = await store.add_packet('["e","new"]', ["r"], [], now())
    assert new > old
    assert [p.data for p in await store.packets_after(0, ["r"], "s")] == ['["e","new"]']


async def test_a_reader_never_skips_a_packet_of_concurrent_writers(store: SessionRecoveryStore) -> None:
    """A reader that moves its cursor to the newest offset it read must still read every packet, in order."""
    writers, each = 6, 12
    offsets: list[int] = []
    writing = True

    async def write(n: int) -> None:
        for i in range(each):
            offsets.append(await store.add_packet(f'["e","{n}-{i}"]', ["r"], [], now()))

    async def read() -> list[int]:
        seen: list[int] = []
        cursor = 0
        while writing or cursor < max(offsets, default=0):
            found = [p.offset for p in await store.packets_after(cursor, ["r"], "s")]
            seen.extend(found)
            cursor = max([cursor, *found])
            await asyncio.sleep(0)
        return seen

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(n) for n in range(writers)))
    writing = False
    seen = await asyncio.wait_for(reader, 30)
    assert seen == sorted(offsets)  # each packet once, by offset, none passed over by the cursor
    assert await store.last_offset() == max(offsets)


async def test_kept_sessions_lists_the_live_ones_with_their_expiry(store: SessionRecoveryStore) -> None:
    """What a process reads at start to know which rooms a kept session may still be replayed into."""
    start = now()
    until = start + timedelta(seconds=WINDOW)
    await store.save_session(SavedSession("p-one", "s-one", ["chat:a", "chat:b"]), until)
    await store.save_session(SavedSession("p-two", "s-two", []), until)
    kept = await store.kept_sessions(start)
    assert sorted((s.pid, s.sid, s.rooms) for s, _ in kept) == [
        ("p-one", "s-one", ["chat:a", "chat:b"]),
        ("p-two", "s-two", []),
    ]
    for _, expires in kept:
        assert start < expires <= until + timedelta(seconds=0.05)  # Redis: from the key's remaining time
    await store.take_session("p-two", now())
    assert [s.pid for s, _ in await store.kept_sessions(now())] == ["p-one"]
    await asyncio.sleep(WINDOW + 0.1)
    assert await store.kept_sessions(now()) == []
