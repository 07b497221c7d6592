"""A lean Socket.IO v5 / Engine.IO v4 client over raw WebSocket frames, for the load generator.

One ``asyncio.Protocol`` per socket, no task per socket or per event: frames are parsed in
``data_received`` and acks and pushes are handed to plain callbacks. Only what the bench needs: the
default namespace, text frames, acks, pings. Client frames carry a zero masking key, so the payload
goes out as is (servers unmask it like any other key).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import Any, cast

import orjson

AckCallback = Callable[[Any], None]
PushCallback = Callable[["Client", str, Any], None]

_ZERO_MASK = b"\x00\x00\x00\x00"


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """Return one final, masked (zero key) client WebSocket frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _ZERO_MASK + payload


def encode_event(event: str, data: Any, ack_id: int | None = None) -> bytes:
    """Return the Socket.IO EVENT packet (inside an Engine.IO MESSAGE) for ``event``."""
    head = b"42" if ack_id is None else b"42%d" % ack_id
    return head + orjson.dumps([event, data])


class Client(asyncio.Protocol):
    """One Socket.IO connection; ``on_push(client, event, data)`` gets every server event."""

    def __init__(self, host: str, port: int, auth: dict[str, Any] | None, on_push: PushCallback | None) -> None:
        self.host, self.port, self.auth, self.on_push = host, port, auth, on_push
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.acks: dict[int, AckCallback] = {}
        self.next_id = 0
        self.tag: Any = None  # free for the scenario (e.g. the client's index)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass it
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(f"closed before connect: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(f"upgrade refused: {bytes(buf[:80])!r}")
                return
            del buf[: end + 4]
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, start = b1 & 0x7F, pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size - start < n:
                break
            self._frame(b0 & 0x0F, bytes(buf[start : start + n]))
            pos = start + n
        if pos:
            del buf[:pos]

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 1:
            self._packet(payload)
        elif opcode == 9:
            self._write(frame(payload, 10))
        elif opcode == 8:
            self.close()

    def _packet(self, p: bytes) -> None:
        kind = p[:1]
        if kind == b"4":
            sio = p[1:2]
            if sio == b"2" or sio == b"3":
                i = 2
                while i < len(p) and 48 <= p[i] <= 57:
                    i += 1
                args = orjson.loads(p[i:])
                if sio == b"3":
                    callback = self.acks.pop(int(p[2:i]), None)
                    if callback is not None:
                        callback(args[0] if args else None)
                elif self.on_push is not None:
                    self.on_push(self, args[0], args[1] if len(args) > 1 else None)
            elif sio == b"0":
                if not self.connected.done():
                    self.connected.set_result(orjson.loads(p[2:]).get("sid", ""))
            elif sio == b"4":
                self._fail(f"connect refused: {p[2:].decode()}")
        elif kind == b"2":
            self._write(frame(b"3"))
        elif kind == b"0":
            self._write(frame(b"40" + (orjson.dumps(self.auth) if self.auth else b"")))
        elif kind == b"1":
            self.close()

    def _fail(self, reason: str) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(reason))
        self.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def emit(self, event: str, data: Any, ack: AckCallback | None = None) -> None:
        """Send ``event``; ``ack(data)`` is called with the server's ack, if given."""
        ack_id = None
        if ack is not None:
            ack_id = self.next_id = self.next_id + 1
            self.acks[ack_id] = ack
        self._write(frame(encode_event(event, data, ack_id)))

    async def call(self, event: str, data: Any, timeout: float = 30) -> Any:
        """Send ``event`` and return its ack (for setup steps, not for the timed loops)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.emit(event, data, lambda value: future.done() or future.set_result(value))
        return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        """Close the TCP connection (the server sees a transport close)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def connect(
    host: str, port: int, auth: dict[str, Any] | None = None, on_push: PushCallback | None = None, timeout: float = 30
) -> Client:
    """Open one connected Socket.IO client."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(host, port, auth, on_push), host, port)
    try:
        await asyncio.wait_for(asyncio.shield(client.connected), timeout)
    except BaseException:
        client.close()
        raise
    return client


async def connect_many(
    host: str,
    port: int,
    n: int,
    auth: dict[str, Any] | None = None,
    on_push: PushCallback | None = None,
    concurrency: int = 100,
) -> list[Client]:
    """Open ``n`` clients, at most ``concurrency`` handshakes at a time; all or none."""
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []

    async def one(i: int) -> None:
        async with gate:
            client = await connect(host, port, auth, on_push)
            client.tag = i
            clients.append(client)

    try:
        async with asyncio.TaskGroup() as group:
            for i in range(n):
                group.create_task(one(i))
    except BaseException:
        close_all(clients)
        raise
    clients.sort(key=lambda c: c.tag)
    return clients


def close_all(clients: list[Client]) -> None:
    """Close every client."""
    for client in clients:
        client.close()
