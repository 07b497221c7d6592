"""Attacks on sharded Redis room channels: a room sharing a shard leaks nothing; churn leaves no subscription."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from handlers.sio_sharding import shard_channel, shard_of
from models.rooms import chat_room
from tests.sharding_kit import SHARDS, Pair, free_room, pair_of, received, send, until
from tests.test_metrics import scrape, value


@pytest.fixture
async def pair(tmp_path: Path, redis_url: str) -> AsyncIterator[Pair]:
    """Two instances with sharding at its default."""
    async for made in pair_of(tmp_path, redis_url, None):
        yield made


RECEIVED = "deskline_redis_messages_received_total"


def colliding_room(room: str) -> str:
    """Another chat room name whose emits travel on the same shard channel as ``room``'s."""
    target = shard_of(chat_room(room), SHARDS)
    for n in itertools.count():
        other = f"neighbour-{n}"
        if other != room and shard_of(chat_room(other), SHARDS) == target:
            return other
    raise AssertionError("unreachable")


async def test_a_member_of_a_room_on_the_same_shard_gets_nothing_of_the_other_room(pair: Pair, redis: Redis) -> None:
    nodes, client, channel = pair
    sender, victim, outsider = await client(0), await client(1), await client(1)
    room = await free_room(redis, channel, "private")
    neighbour = colliding_room(room)
    await sender.ok("join", {"room": room})
    await victim.ok("join", {"room": room})
    await outsider.ok("join", {"room": neighbour})  # instance B hears this shard for both rooms
    before = await scrape(nodes[1].url)
    await send(sender, room, 10, "secret")
    await received(victim, "secret", 10)
    await asyncio.sleep(0.3)
    after = await scrape(nodes[1].url)
    assert value(after, RECEIVED, channel="room") - value(before, RECEIVED, channel="room") >= 10
    assert not [m for m in outsider.inbox.of("my_response") if str(m.get("data")).startswith("secret")]


async def test_joining_and_leaving_many_rooms_leaves_no_subscription_behind(pair: Pair, redis: Redis) -> None:
    _, client, channel = pair
    await client(0)
    churner = await client(1)
    rooms = [f"churn-{n}" for n in range(60)]
    for room in rooms[:30]:
        await churner.ok("join", {"room": room})
    for room in rooms[:15]:
        await churner.ok("leave", {"room": room})
    for room in rooms[30:]:
        await churner.ok("join", {"room": room})
    shards = {shard_channel(channel, shard_of(chat_room(room), SHARDS)) for room in rooms}
    held = {shard_channel(channel, shard_of(chat_room(room), SHARDS)) for room in rooms[15:]}
    counts = dict(await redis.pubsub_numsub(*shards))
    assert all(counts[name.encode()] == 1 for name in held), counts
    await churner.close()

    async def none_left() -> bool:
        return all(count == 0 for _, count in await redis.pubsub_numsub(*shards))

    await until(none_left)
    late = await client(1)
    await late.ok("join", {"room": rooms[0]})
    await send(late, rooms[0], 1, "still works")
    await received(late, "still works", 1)
