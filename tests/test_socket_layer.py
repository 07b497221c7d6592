"""The socket layer (handlers/sio_engine.py): per-socket order under back-pressure and across the upgrade,
the bounded backlog, no writer idle timeout, and the frames of one pass of the loop sent in one write, with
real servers and real clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from typing import Any

import aiohttp
from engineio import packet as eio_packet

from handlers.lifecycle import close_socket
from handlers.sio_engine import DIRECT_WRITE_MAX_BUFFERED, DesklineSocket
from server import SIO_KEY
from tests.browser import node_modules
from tests.helpers import RunningServer, connect_client
from tests.raw_socket import RawSocket

PAD = "x" * 16_000  # big pushes fill the kernel's buffers quickly, so the queued path is taken


def engine_sockets(server: RunningServer) -> list[DesklineSocket]:
    """The server's Engine.IO sockets."""
    return list(server.app[SIO_KEY].eio.sockets.values())


async def test_a_slow_reader_gets_every_push_in_order(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    raw = await RawSocket.open(server.url)
    (sock,) = engine_sockets(server)
    first = 0
    while not sock.pending and first < 5000:  # unread pushes fill the kernel's buffers, then the queue
        await sio.emit("tick", {"n": first, "pad": PAD})
        first += 1
    count, queued = first + 1500, sock.pending

    async def produce() -> None:
        nonlocal queued
        for n in range(first, count):  # more while the client reads slowly: queued, then direct again
            await sio.emit("tick", {"n": n, "pad": PAD})
            queued = max(queued, sock.pending)
            if n % 10 == 0:
                await asyncio.sleep(0.002)

    producer = asyncio.create_task(produce())
    try:
        seen = []
        for _ in range(count):
            seen.append((await raw.next_event("tick"))["n"])
            if len(seen) % 25 == 0:
                await asyncio.sleep(0.05)  # read slowly
        await producer
        assert seen == list(range(count))
        assert queued > 0, "the queued path was never taken"
        await asyncio.sleep(0.1)
        assert sock.pending == 0 and sock.writer_task is None and not sock.closed
        await sio.emit("tick", {"n": count})  # idle again: the direct path
        assert (await raw.next_event("tick"))["n"] == count
    finally:
        producer.cancel()
        await raw.close()


class CountingTransport:
    """A socket's real transport, counting the calls that write to it (everything else goes straight through)."""

    def __init__(self, transport: Any) -> None:
        self.inner = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        """Count, then write."""
        self.writes += 1
        self.inner.write(data)

    def writelines(self, frames: list[bytes]) -> None:
        """Count, then write."""
        self.writes += 1
        self.inner.writelines(frames)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def count_writes(sock: DesklineSocket) -> CountingTransport:
    """Wrap ``sock``'s transport in a ``CountingTransport`` and return it."""
    counting = CountingTransport(sock.transport)
    sock.transport = counting  # type: ignore[assignment]
    return counting


def tick(n: int, pad: str = "") -> eio_packet.Packet:
    """An Engine.IO message carrying the Socket.IO event ``tick`` {"n": n, "pad": pad}."""
    return eio_packet.Packet(eio_packet.MESSAGE, f'2["tick",{{"n":{n},"pad":"{pad}"}}]')


async def test_the_frames_of_one_pass_of_the_loop_leave_in_one_write(server: RunningServer) -> None:
    raw = await RawSocket.open(server.url)
    (sock,) = engine_sockets(server)
    counting = count_writes(sock)
    try:
        for n in range(20):  # one pass of the loop: nothing in between yields
            sock.push(tick(n))
        assert counting.writes == 0, "a direct write left before the end of the pass"
        assert [(await raw.next_event("tick"))["n"] for _ in range(20)] == list(range(20))
        assert counting.writes == 1
        sock.push(tick(20))  # the next pass: its own write
        assert (await raw.next_event("tick"))["n"] == 20
        assert counting.writes == 2
    finally:
        await raw.close()


async def test_broadcasts_of_one_pass_reach_each_socket_in_one_write(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    raws = [await RawSocket.open(server.url) for _ in range(3)]
    counters = [count_writes(sock) for sock in engine_sockets(server)]
    try:
        for n in range(5):  # a storm: several broadcasts to everyone before the loop gets a turn
            await sio.emit("tick", {"n": n})
        assert all(c.writes == 0 for c in counters)
        for raw in raws:
            assert [(await raw.next_event("tick"))["n"] for _ in range(5)] == list(range(5))
        assert [c.writes for c in counters] == [1, 1, 1]
    finally:
        for raw in raws:
            await raw.close()


async def test_batched_frames_go_before_what_is_queued_behind_them(server: RunningServer) -> None:
    raw = await RawSocket.open(server.url)
    (sock,) = engine_sockets(server)
    try:
        count = 2 * DIRECT_WRITE_MAX_BUFFERED // len(PAD)  # twice what may be batched: the rest takes the queue
        for n in range(count):
            sock.push(tick(n, PAD))
        assert sock.pending > 0 and sock.writer_task is not None, "the queued path was never taken"
        assert [(await raw.next_event("tick"))["n"] for _ in range(count)] == list(range(count))
        await asyncio.sleep(0.05)
        assert sock.pending == 0 and sock.writer_task is None
    finally:
        await raw.close()


async def test_frames_batched_when_the_server_closes_a_websocket_arrive_before_the_close(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    raw = await RawSocket.open(server.url)
    (sock,) = engine_sockets(server)
    try:
        for n in range(3):
            sock.push(tick(n))
        await close_socket(sio, sock)  # the Engine.IO CLOSE, then the WebSocket's close, in the same pass
        assert [(await raw.next_event("tick"))["n"] for _ in range(3)] == [0, 1, 2]
        assert await raw.receive() == "1"  # Engine.IO CLOSE
        closed = await raw.ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await raw.close()


async def test_a_reader_past_the_backlog_limit_is_dropped(start_server: Any) -> None:
    server = await start_server(send_backlog=50)
    sio = server.app[SIO_KEY]
    slow = await RawSocket.open(server.url)
    healthy = await server.client()
    sent = 0
    try:
        while len(sio.eio.sockets) > 1 and sent < 5000:  # the raw client never reads: fill every buffer
            await sio.emit("tick", {"n": sent, "pad": PAD})
            sent += 1
            await asyncio.sleep(0)
        for _ in range(100):  # the slow socket is dropped (the healthy one stays)
            if len(sio.eio.sockets) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(sio.eio.sockets) == 1
        assert healthy.sio.connected
        ticks = await healthy.inbox.wait_count("tick", sent, timeout=30)
        assert [t["n"] for t in ticks] == list(range(sent))
    finally:
        await slow.close()


async def test_a_quiet_socket_outlives_ping_interval_plus_timeout_on_direct_writes(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    sio.eio.ping_interval, sio.eio.ping_timeout = 1, 1  # upstream's writer would give up after 2 s
    client = await connect_client(server.url)
    server.clients.append(client)
    try:
        for n in range(25):  # 5 s of pushes, each written straight to the idle transport
            await sio.emit("tick", {"n": n})
            await asyncio.sleep(0.2)
        assert client.sio.connected
        assert all(s.writer_task is None for s in engine_sockets(server))
        ticks = await client.inbox.wait_count("tick", 25)
        assert [t["n"] for t in ticks] == list(range(25))
    finally:
        sio.eio.ping_interval, sio.eio.ping_timeout = 25, 20


async def test_order_holds_across_the_polling_to_websocket_upgrade(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    js = await asyncio.to_thread(node_modules)
    node = shutil.which("node")
    assert node
    count = 8
    proc = await asyncio.create_subprocess_exec(
        node,
        "upgrade_order.mjs",
        server.url,
        str(count),
        cwd=js,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None
    sent = 0
    try:
        # Push from the first handshake on, so each upgrade happens while pushes are flowing.
        async with asyncio.timeout(20):
            while len(sio.eio.sockets) < count or any(not s.upgraded for s in engine_sockets(server)):
                await sio.emit("seq", sent)
                sent += 1
                await asyncio.sleep(0.0005 if sent % 4 else 0.002)
        for _ in range(200):
            await sio.emit("seq", sent)
            sent += 1
        await sio.emit("seq_done")
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    results = [json.loads(line) for line in out.decode().splitlines()[1:]]
    assert len(results) == count
    for seen in results:
        assert seen["transport"] == "websocket"
        assert seen["upgradedAt"] is not None
        seq = seen["seq"]
        assert seq == list(range(seq[0], sent)), "pushes lost or reordered across the upgrade"


async def test_a_malformed_packet_ends_only_its_own_connection(server: RunningServer) -> None:
    """Not a Socket.IO packet (an unknown type, an event that is not an array, not an Engine.IO packet at all):
    that connection is closed, as Node's server does, with no traceback; other sockets go on."""
    bystander = await connect_client(server.url)
    try:
        for malformed in ("4abc", "42{}", "42[]", "abc"):
            raw = await RawSocket.open(server.url)
            await raw.ws.send_str(malformed)
            try:
                while True:
                    await raw.receive(timeout=5)
            except ConnectionError:
                pass  # closed by the server, within the timeout (TimeoutError otherwise)
            finally:
                await raw.close()
        assert "ok" in await bystander.call("get_presence", {})  # answered: the server goes on
        assert not server.app[SIO_KEY].in_flight
    finally:
        await bystander.close()


async def test_a_client_close_packet_ends_the_websocket(server: RunningServer) -> None:
    raw = await RawSocket.open(server.url)
    try:
        await raw.ws.send_str("1")  # Engine.IO CLOSE
        message = await raw.ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    finally:
        await raw.close()


async def test_an_unknown_namespace_is_refused_with_a_message(server: RunningServer) -> None:
    raw = await RawSocket.open(server.url)
    try:
        await raw.ws.send_str("40/nowhere,")
        while not (answer := await raw.receive()).startswith("44/nowhere,"):
            pass
        assert json.loads(answer[len("44/nowhere,") :]) == {"message": "Invalid namespace"}
    finally:
        await raw.close()


async def test_http_requests_node_refuses_get_400(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"{server.url}/socket.io/?EIO=4"
        polling = f"{base}&transport=polling"
        for method, url in (("GET", base), ("PUT", polling), ("DELETE", polling)):
            async with http.request(method, url) as response:
                assert response.status == 400, (method, url)
        async with http.get(f"{base}&transport=polling") as response:
            sid = json.loads((await response.text())[1:])["sid"]
        async with http.post(f"{base}&transport=polling&sid={sid}", data="40") as response:
            assert (response.status, await response.text()) == (200, "ok")
        async with http.post(f"{base}&transport=polling&sid={sid}", data="abc") as response:
            assert response.status == 400  # not a payload: the session ends
        async with http.get(f"{base}&transport=polling&sid={sid}") as response:
            assert response.status == 400
