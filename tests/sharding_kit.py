"""Helpers of the sharded Redis channel tests: two real server processes on a fresh channel, and Redis's view."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from config import Settings
from handlers.sio_sharding import shard_channel, shard_of
from models.rooms import chat_room
from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all

MESSAGE = {"type": "chat", "side": "client", "author": "ana", "message_type": "text"}
SHARDS: int = Settings.model_fields["redis_shards"].default  # the tests run at the default
Pair = tuple[list[ServerProcess], Callable[[int], Awaitable[Client]], str]


async def start_pair(tmp_path: Path, redis_url: str, shards: int | None) -> tuple[list[ServerProcess], str]:
    """Two instances on one SQLite file and a fresh Redis channel; ``shards`` None keeps the default."""
    channel = f"deskline-shard-{uuid.uuid4().hex}"
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": channel,
        "DESKLINE_JWT_SECRET": "shard-secret-" + "s" * 40,
        "DESKLINE_LOG_LEVEL": "WARNING",
        "DESKLINE_RATE_LIMIT_DEFAULT": "off",
    }
    if shards is not None:
        env["DESKLINE_REDIS_SHARDS"] = str(shards)
    nodes = [ServerProcess(env, free_port()), ServerProcess(env, free_port())]
    await start_all(*nodes)
    return nodes, channel


async def pair_of(tmp_path: Path, redis_url: str, shards: int | None) -> AsyncIterator[Pair]:
    """Yield the two instances, a client factory (by instance) and the channel; close and stop them after."""
    nodes, channel = await start_pair(tmp_path, redis_url, shards)
    clients: list[Client] = []

    async def client(node: int) -> Client:
        made = await connect_client(nodes[node].url)
        clients.append(made)
        return made

    yield nodes, client, channel
    for made in clients:
        await made.close()
    for node in nodes:
        node.stop()


async def subscribers(redis: Redis, channel: str, room: str) -> int:
    """How many connections are subscribed to the shard channel of chat room ``room``."""
    [(_, count)] = await redis.pubsub_numsub(shard_channel(channel, shard_of(chat_room(room), SHARDS)))
    return int(count)


async def free_room(redis: Redis, channel: str, prefix: str) -> str:
    """A chat room name whose shard channel nobody is subscribed to yet."""
    for n in range(100):
        room = f"{prefix}-{n}"
        if not await subscribers(redis, channel, room):
            return room
    raise AssertionError("no free shard found")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Wait until ``check()`` holds (polling), or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def send(sender: Client, room: str, count: int, tag: str) -> None:
    """Post ``count`` chat messages ``<tag> <i>`` to ``room``, each acked."""
    for i in range(count):
        await sender.ok("message_event", {**MESSAGE, "room_id": room, "message_data": f"{tag} {i}"})


async def received(member: Client, tag: str, count: int) -> None:
    """Wait until ``member`` got all ``count`` messages of ``tag``."""
    for i in range(count):
        await member.inbox.wait_for("my_response", lambda m, t=f"{tag} {i}": m.get("data") == t)
