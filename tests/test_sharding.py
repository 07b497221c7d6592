"""Sharded room channels over Redis: two real server processes; a room's emits reach only instances holding it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from handlers.sio_sharding import redis_client_name
from server import SIO_KEY
from tests.sharding_kit import MESSAGE, Pair, SlowLink, free_room, pair_of, received, send, subscribers, until
from tests.test_metrics import scrape, value


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str) -> AsyncIterator[Pair]:
    """Two instances with sharding at its default."""
    async for made in pair_of(tmp_path, redis_url, None):
        yield made


@pytest.fixture
async def unsharded(tmp_path: Path, redis_url: str) -> AsyncIterator[Pair]:
    """Two instances with ``DESKLINE_REDIS_SHARDS=0`` (the one shared channel)."""
    async for made in pair_of(tmp_path, redis_url, 0):
        yield made


async def test_room_emit_reaches_members_on_both_instances(pair: Pair, redis: Redis) -> None:
    _, client, channel = pair
    on_a, on_b = await client(0), await client(1)
    room = await free_room(redis, channel, "both")
    for member in (on_a, on_b):
        await member.ok("join", {"room": room})
    assert await subscribers(redis, channel, room) == 2  # one listener per instance
    await send(on_a, room, 5, "from A")
    await send(on_b, room, 5, "from B")
    for member in (on_a, on_b):
        await received(member, "from A", 5)
        await received(member, "from B", 5)
    await asyncio.sleep(0.3)
    for member in (on_a, on_b):
        texts = [m.get("data") for m in member.inbox.of("my_response")]
        assert all(texts.count(f"from {s} {i}") == 1 for s in "AB" for i in range(5)), texts


async def test_an_instance_without_a_member_receives_nothing_for_the_room(pair: Pair, redis: Redis) -> None:
    nodes, client, channel = pair
    on_a, idle_b = await client(0), await client(1)  # B's listener runs (it has a socket) but holds no member
    room = await free_room(redis, channel, "only-a")
    await on_a.ok("join", {"room": room})
    assert await subscribers(redis, channel, room) == 1
    before = await scrape(nodes[1].url)
    await send(on_a, room, 20, "held by A")
    await received(on_a, "held by A", 20)
    await asyncio.sleep(0.3)
    after = await scrape(nodes[1].url)
    name = "deskline_redis_messages_received_total"
    assert value(after, name, channel="room") == value(before, name, channel="room") == 0
    assert value(after, name, channel="shared") - value(before, name, channel="shared") < 20
    assert not [m for m in idle_b.inbox.of("my_response") if str(m.get("data")).startswith("held by A")]
    on_a_counts = await scrape(nodes[0].url)  # A heard its own emits on the shard it holds
    assert value(on_a_counts, name, channel="room") >= 20


async def test_without_shards_every_instance_receives_every_room_emit(unsharded: Pair) -> None:
    nodes, client, _ = unsharded
    on_a, _idle_b = await client(0), await client(1)
    await on_a.ok("join", {"room": "only-a"})
    before = await scrape(nodes[1].url)
    await send(on_a, "only-a", 20, "held by A")
    await received(on_a, "held by A", 20)
    name = "deskline_redis_messages_received_total"

    async def b_heard_them() -> bool:
        now = await scrape(nodes[1].url)
        return value(now, name, channel="shared") - value(before, name, channel="shared") >= 20

    await until(b_heard_them)
    assert value(await scrape(nodes[1].url), name, channel="room") == 0


async def test_join_then_immediately_receive_across_instances(pair: Pair, redis: Redis) -> None:
    _, client, channel = pair
    on_a, on_b = await client(0), await client(1)
    for n in range(15):
        room = await free_room(redis, channel, f"fresh{n}")
        await on_a.ok("join", {"room": room})
        await on_b.ok("join", {"room": room})  # B subscribes to the shard now; its ack waits for Redis
        await on_a.ok("message_event", {**MESSAGE, "room_id": room, "message_data": f"right after {n}"})
        await on_b.inbox.wait_for("my_response", lambda m, t=f"right after {n}": m.get("data") == t, timeout=5)


@pytest.fixture
async def slow_second(tmp_path: Path, redis_url: str) -> AsyncIterator[Pair]:
    """Two instances; the second one's subscriber connection reaches Redis through a link holding it 0.4 s."""
    link = SlowLink(redis_url, delay=0.4)
    slow_url = await link.start()
    try:
        async for made in pair_of(tmp_path, redis_url, None, slow_url):
            yield made
    finally:
        await link.stop()


@pytest.fixture
async def relayed_second(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Pair, SlowLink]]:
    """Two instances; the second reaches Redis through a relay the test can cut."""
    link = SlowLink(redis_url, delay=0.0)
    relayed_url = await link.start()
    try:
        async for made in pair_of(tmp_path, redis_url, None, relayed_url):
            yield made, link
    finally:
        await link.stop()


async def test_after_losing_redis_an_instance_subscribes_its_shards_again(
    relayed_second: tuple[Pair, SlowLink], redis: Redis
) -> None:
    (_, client, channel), link = relayed_second
    on_a, on_b = await client(0), await client(1)
    room = await free_room(redis, channel, "cut")
    for member in (on_a, on_b):
        await member.ok("join", {"room": room})
    assert await subscribers(redis, channel, room) == 2
    await link.cut()  # B's listener (and every other connection of B to Redis) drops

    async def back() -> bool:  # A, and B's new listener (the failed one is closed, not left subscribed)
        return await subscribers(redis, channel, room) == 2

    assert await subscribers(redis, channel, room) == 1
    await until(back, timeout=20)  # upstream's retry waits 1 s, then the listener subscribes every held shard
    await asyncio.sleep(1.0)
    assert await subscribers(redis, channel, room) == 2  # no third, stale subscription
    await send(on_a, room, 3, "after the cut")
    await received(on_b, "after the cut", 3)


async def test_a_join_is_acked_only_once_redis_has_the_subscription(slow_second: Pair, redis: Redis) -> None:
    _, client, channel = slow_second
    on_a, on_b = await client(0), await client(1)
    for n in range(3):
        room = await free_room(redis, channel, f"slow{n}")
        await on_a.ok("join", {"room": room})
        await on_b.ok("join", {"room": room})  # B's SUBSCRIBE reaches Redis 0.4 s after it was sent
        await on_a.ok("message_event", {**MESSAGE, "room_id": room, "message_data": f"right after {n}"})
        await on_b.inbox.wait_for("my_response", lambda m, t=f"right after {n}": m.get("data") == t, timeout=5)


async def test_subscription_follows_the_local_members(pair: Pair, redis: Redis) -> None:
    _, client, channel = pair
    await client(0)
    first, second = await client(1), await client(1)
    room = await free_room(redis, channel, "counted")
    await first.ok("join", {"room": room})
    await second.ok("join", {"room": room})
    assert await subscribers(redis, channel, room) == 1  # one subscription per instance, not per member
    await first.ok("leave", {"room": room})
    await asyncio.sleep(0.3)
    assert await subscribers(redis, channel, room) == 1  # the second member is still here

    async def released() -> bool:
        return await subscribers(redis, channel, room) == 0

    await second.close()  # the last member goes: the instance unsubscribes
    await until(released)
    again = await client(1)
    await again.ok("join", {"room": room})
    assert await subscribers(redis, channel, room) == 1


async def test_a_stopped_server_leaves_no_redis_connection_of_its_socket_layer(
    start_server,
    redis: Redis,
    redis_url: str,  # type: ignore[no-untyped-def]
) -> None:
    """The Socket.IO manager's listener, publisher and shard subscriptions are closed when the app stops."""
    channel = f"close-{uuid.uuid4().hex[:10]}"
    srv = await start_server("sqlite", redis_url=redis_url, redis_channel=channel)
    name = redis_client_name(channel)

    async def connections() -> int:
        return sum(1 for c in await redis.client_list() if c.get("name") == name)

    member = await srv.client()
    room = await free_room(redis, channel, "closing")
    await member.ok("join", {"room": room})
    await member.ok(
        "message_event", MESSAGE | {"room_id": room, "message_data": "hello"}
    )  # published through the manager
    assert await connections() >= 2  # the listener and the publisher
    assert await subscribers(redis, channel, room) == 1
    await srv.stop()

    async def none_left() -> bool:
        return await connections() == 0

    await until(none_left)
    assert await subscribers(redis, channel, room) == 0
    manager = srv.app[SIO_KEY].manager
    assert manager.thread.done() and not manager.connected
