"""Room emits on sharded Redis channels: an instance hears a room's emits only while it holds a member of it.

python-socketio's ``AsyncRedisManager`` publishes every cross-instance message on one channel, so every
instance receives (and decodes) every room emit of the deployment. ``ShardedChannels`` keeps that shared
channel for everything addressed to a socket id, a namespace or several rooms, for callbacks, disconnects and
room changes, and publishes an emit to ONE room on ``<channel>#<crc32(room) mod shards>`` instead. Each
instance subscribes to a shard channel when it gets its first local member of a room hashing to it and
unsubscribes when the last such room has no local member left (a count of local rooms per shard, kept in
``basic_enter_room`` / ``basic_leave_room``, which every join, leave, disconnect and close goes through). It
still handles its own emits locally, as upstream does.

A join on this instance (``enter_room`` for a local socket) returns only once Redis has confirmed the shard's
subscription (the listener sees the ``subscribe`` reply), so an emit published after the join's ack reaches
the new member. A join requested for another instance's socket (upstream's ``enter_room`` message on the shared
channel) has a short window: an emit published right after it may be missed by that socket; Deskline only ever
joins the calling socket to a room.

Every instance of a deployment must use the same shard count (``DESKLINE_REDIS_SHARDS``). Plain
PUBLISH/SUBSCRIBE on one Redis; Redis Cluster's SPUBLISH/SSUBSCRIBE are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import zlib
from collections import Counter, deque
from typing import Any

import socketio

from handlers import metrics as observed

log = logging.getLogger("deskline.redis")

# python-engineio's ids (``generate_id``): 15 random bytes in URL-safe base64. Rooms shaped like one are the
# per-socket rooms: their emits stay on the shared channel (no instance subscribes per socket).
SID_SHAPE = re.compile(r"[A-Za-z0-9_-]{20}")
# How long a join waits for Redis to confirm a new shard subscription before it goes on regardless.
SUBSCRIBE_WAIT_SECONDS = 5.0


def is_sharded_room(room: Any) -> bool:
    """Return whether emits to ``room`` (alone) travel on a shard channel: a named room, not a socket's own."""
    return isinstance(room, str) and SID_SHAPE.fullmatch(room) is None


def shard_of(room: str, shards: int) -> int:
    """Return the shard a room's emits are published on (crc32 of its UTF-8 name, modulo ``shards``)."""
    return zlib.crc32(room.encode()) % shards


def shard_channel(channel: str, shard: int) -> str:
    """Return the Redis channel name of ``shard`` of the shared ``channel``."""
    return f"{channel}#{shard}"


def redis_client_name(channel: str) -> str:
    """Return the name the Socket.IO manager's Redis connections give themselves (``CLIENT LIST`` shows it)."""
    return "deskline-sio-" + re.sub(r"\s", "_", channel)


class ShardedChannels(socketio.AsyncRedisManager):
    """``AsyncRedisManager`` that publishes single-room emits on per-shard channels and subscribes on demand.

    With ``shards=0`` every message stays on the shared channel (upstream's behaviour), received messages counted.
    """

    def __init__(self, *args: Any, shards: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if shards < 0:
            raise ValueError("shards must be 0 (one shared channel) or more")
        self.shards = shards
        self._rooms_held: Counter[int] = Counter()  # shard -> local (namespace, room) pairs hashing to it
        self._ready: dict[int, asyncio.Future[None]] = {}  # held shard -> resolved once Redis confirmed it
        self._unconfirmed: Counter[int] = Counter()  # SUBSCRIBEs sent per shard whose reply is still due
        self._commands: deque[tuple[bool, int]] = deque()  # (subscribe?, shard), in the order they were decided
        self._writer: asyncio.Task[None] | None = None
        self._listener: Any = None  # the PubSub the listener reads (upstream's publish may replace self.pubsub)
        self._live = False  # the listener is subscribed on its current connection
        self._command_lock = asyncio.Lock()  # one (un)subscribe command at a time on the listener's connection
        self._prefix = (self.channel + "#").encode()

    # --- which rooms this instance holds -------------------------------------------------------------------

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        """Add a socket to a room (extends ``BaseManager.basic_enter_room``); a first local member holds its shard."""
        fresh = room not in self.rooms.get(namespace, {})
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if fresh and self.shards and is_sharded_room(room):
            self._hold(shard_of(room, self.shards))

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        """Remove a socket from a room (extends ``BaseManager.basic_leave_room``); the last one releases its shard."""
        existed = room in self.rooms.get(namespace, {})
        super().basic_leave_room(sid, namespace, room)
        if existed and self.shards and is_sharded_room(room) and room not in self.rooms.get(namespace, {}):
            self._release(shard_of(room, self.shards))

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        """Add a socket to a room (extends ``AsyncPubSubManager.enter_room``); a local one: once its emits are heard."""
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if self.shards and is_sharded_room(room):
            await self._until_subscribed(shard_of(room, self.shards))

    def _hold(self, shard: int) -> None:
        self._rooms_held[shard] += 1
        if self._rooms_held[shard] == 1:
            self._ready[shard] = asyncio.get_running_loop().create_future()
            self._queue_command(True, shard)

    def _release(self, shard: int) -> None:
        self._rooms_held[shard] -= 1
        if self._rooms_held[shard] > 0:
            return
        del self._rooms_held[shard]
        ready = self._ready.pop(shard, None)
        if ready is not None and not ready.done():
            ready.set_result(None)  # nobody here waits for this shard any more
        self._queue_command(False, shard)

    async def _until_subscribed(self, shard: int) -> None:
        ready = self._ready.get(shard)
        if ready is None or ready.done():
            return
        try:
            async with asyncio.timeout(SUBSCRIBE_WAIT_SECONDS):
                await asyncio.shield(ready)
        except TimeoutError:
            log.warning("event=redis_subscribe_slow shard=%d waited_s=%.1f", shard, SUBSCRIBE_WAIT_SECONDS)

    # --- subscribing ------------------------------------------------------------------------------------

    def _queue_command(self, subscribe: bool, shard: int) -> None:
        self._commands.append((subscribe, shard))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._send_commands())

    async def _send_commands(self) -> None:
        """Send the queued SUBSCRIBE/UNSUBSCRIBE commands in order (skipped while the listener is down)."""
        try:
            while self._commands:
                subscribe, shard = self._commands.popleft()
                async with self._command_lock:
                    if not self._live:
                        continue  # the listener subscribes every held shard when it (re)connects
                    name = shard_channel(self.channel, shard)
                    try:
                        if subscribe:
                            self._unconfirmed[shard] += 1
                            await self._listener.subscribe(name)
                        else:
                            await self._listener.unsubscribe(name)
                    except Exception as exc:  # the listener sees the broken connection and resubscribes all
                        log.warning("event=redis_subscribe_failed channel=%s error=%r", name, exc)
        finally:
            self._writer = None

    def _confirmed(self, shard: int) -> None:
        """Count Redis's reply to one SUBSCRIBE; the last one due means the shard is subscribed now."""
        left = self._unconfirmed[shard] - 1
        if left > 0:
            self._unconfirmed[shard] = left
            return
        self._unconfirmed.pop(shard, None)
        ready = self._ready.get(shard)
        if ready is not None and not ready.done():
            ready.set_result(None)

    def _redis_connect(self) -> None:
        """Connect (replaces ``AsyncRedisManager._redis_connect``) with a PubSub that yields subscribe replies too."""
        super()._redis_connect()
        self.pubsub = self.redis.pubsub()

    async def _subscribe_all(self) -> None:
        """Open the listener's connection on the shared channel, then subscribe every shard held now."""
        self._live = False
        self._redis_connect()
        self._listener = self.pubsub
        async with self._command_lock:
            await self._listener.subscribe(self.channel)
            held = list(self._rooms_held)
            self._unconfirmed = Counter(held)
            self._live = True
            if held:
                await self._listener.subscribe(*(shard_channel(self.channel, s) for s in held))

    async def _drop_listener(self) -> None:
        """Close the failed listener's PubSub, so redis-py cannot reconnect it into a subscriber nobody reads."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.aclose()

    async def _redis_listen_with_retries(self) -> Any:
        """Yield every pubsub message, reconnecting with backoff.

        Replaces ``AsyncRedisManager._redis_listen_with_retries``, which subscribes the shared channel only: this
        subscribes every held shard channel too on each (re)connection, and yields subscribe replies as well.
        """
        retry_sleep = 1
        subscribed = False
        while True:
            try:
                if not subscribed:
                    await self._subscribe_all()
                    subscribed = True
                    retry_sleep = 1
                async for message in self._listener.listen():
                    yield message
            except Exception as exc:
                self._live = False
                log.error("event=redis_listen_failed retry_in_s=%d error=%r", retry_sleep, exc)
                await self._drop_listener()
                subscribed = False
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 60)

    async def _listen(self) -> Any:
        """Yield the data of each message on the shared or a shard channel (replaces ``AsyncRedisManager._listen``).

        Subscribe replies for shard channels confirm them; each message is counted in
        ``deskline_redis_messages_received`` by channel kind (``shared`` or ``room``).
        """
        shared = self.channel.encode()
        received = observed.metrics().redis_messages_received
        on_shared, on_room = received.labels("shared"), received.labels("room")
        async for message in self._redis_listen_with_retries():
            kind, name = message["type"], message["channel"]
            if kind == "message" and name == shared:
                on_shared.inc()
                yield message["data"]
            elif kind == "message" and name.startswith(self._prefix):
                on_room.inc()
                yield message["data"]
            elif kind == "subscribe" and name.startswith(self._prefix):
                self._confirmed(int(name[len(self._prefix) :]))

    async def close(self) -> None:
        """Stop listening and close this manager's Redis connections (upstream's manager never does).

        Call it once the server has stopped; emits after it are not published.
        """
        tasks = [t for t in (getattr(self, "thread", None), self._writer) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop_listener()
        for client in (self.pubsub, self.redis):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self.connected = False

    # --- publishing -------------------------------------------------------------------------------------

    async def _publish(self, data: Any) -> Any:
        """Publish ``data``: an emit to one room without callback on its shard channel, the rest on the shared one.

        Replaces ``AsyncRedisManager._publish`` (the same two attempts and logging) for the shard channels.
        """
        if not (isinstance(data, dict) and data.get("method") == "emit" and data.get("callback") is None):
            return await super()._publish(data)
        room = data.get("room")
        if not self.shards or not is_sharded_room(room):
            return await super()._publish(data)
        channel = shard_channel(self.channel, shard_of(room, self.shards))
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    super()._redis_connect()  # a publishing connection: the listener keeps its own PubSub
                return await self.redis.publish(channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                if not retries_left:  # given up, as upstream: the emit is lost, the caller goes on
                    log.error("event=redis_publish_failed channel=%s error=%r", channel, exc)
                    break
                log.warning("event=redis_publish_retry channel=%s error=%r", channel, exc)
        return None


class ShardedRedisManager(observed.ObservedRedisManager, ShardedChannels):
    """Deskline's Redis manager (direct emits, counted sockets, timed publishes) on sharded room channels."""
