"""Helpers of the sharded Redis channel tests: two real server processes on a fresh channel, and Redis's view."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

from redis.asyncio import Redis

from config import Settings
from handlers.sio_sharding import shard_channel, shard_of
from models.rooms import chat_room
from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all

MESSAGE = {"type": "chat", "side": "client", "author": "ana", "message_type": "text"}
SHARDS: int = Settings.model_fields["redis_shards"].default  # the tests run at the default
Pair = tuple[list[ServerProcess], Callable[[int], Awaitable[Client]], str]


async def start_pair(
    tmp_path: Path, redis_url: str, shards: int | None, second_redis_url: str | None = None
) -> tuple[list[ServerProcess], str]:
    """Two instances on one SQLite file and a fresh Redis channel; ``shards`` None keeps the default.

    ``second_redis_url``: the second instance reaches the same Redis through that address (a ``SlowLink``).
    """
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
    second = {**env, "DESKLINE_REDIS_URL": second_redis_url or redis_url}
    nodes = [ServerProcess(env, free_port()), ServerProcess(second, free_port())]
    await start_all(*nodes)
    return nodes, channel


async def pair_of(
    tmp_path: Path, redis_url: str, shards: int | None, second_redis_url: str | None = None
) -> AsyncIterator[Pair]:
    """Yield the two instances, a client factory (by instance) and the channel; close and stop them after."""
    nodes, channel = await start_pair(tmp_path, redis_url, shards, second_redis_url)
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


class SlowLink:
    """A real TCP relay to Redis that holds what a subscriber connection sends for ``delay`` seconds (order kept).

    A connection is held from its first SUBSCRIBE on (the instance's listener); the others (publishes, presence)
    pass at once. So an instance behind it has its SUBSCRIBEs reach Redis late while the rest of its traffic,
    and everyone else's, does not wait: the worst case for a join followed at once by an emit from elsewhere.
    """

    def __init__(self, redis_url: str, delay: float) -> None:
        parsed = urlparse(redis_url)
        self.host, self.port, self.db = parsed.hostname or "127.0.0.1", parsed.port or 6379, parsed.path or "/0"
        self.delay = delay
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Listen on a free local port; return the Redis URL that goes through the relay."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self.db}"

    async def cut(self) -> None:
        """Drop every connection going through the relay now (as a Redis restart or a network cut would)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Close the relay and every connection through it."""
        if self.server is not None:
            self.server.close()
        await self.cut()
        if self.server is not None:
            await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
            await asyncio.gather(self._pipe(reader, up_writer, self.delay), self._pipe(up_reader, writer, None))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for end in (writer, up_writer):
                if end is not None:
                    end.close()
                    with contextlib.suppress(Exception):
                        await end.wait_closed()
            self.tasks.discard(task)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float | None) -> None:
        """Copy ``source`` to ``sink``; with a ``delay``, each chunk from the first SUBSCRIBE on is held that long."""
        loop = asyncio.get_running_loop()
        holding = False
        held: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def forward() -> None:
            while (item := await held.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - loop.time()))
                sink.write(data)
                await sink.drain()
            sink.close()

        forwarding = asyncio.ensure_future(forward())
        try:
            while data := await source.read(65536):
                holding = holding or (delay is not None and b"SUBSCRIBE" in data.upper())
                held.put_nowait((loop.time() + (delay if holding and delay else 0.0), data))
            held.put_nowait(None)
            await forwarding
        finally:
            forwarding.cancel()
