"""Public chat throughput, latency and memory per connection against a Deskline server it starts.

Usage: python -m bench.chat [--clients 50] [--messages 2000] [--idle 500] [--backend sqlite|mongo --mongo-url URL]
Starts ``python server.py`` on a free port with a scratch data dir, then:
1. ``--clients`` sockets join one room; one sender emits ``--messages`` acknowledged messages; every member
   receives every message. Prints messages/s stored, deliveries/s and p50/p99 ack latency.
2. Opens ``--idle`` more idle sockets and prints the server's RSS growth per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import socketio

from tests.helpers import ServerProcess, free_port

MESSAGE = {"type": "chat", "room_id": "bench", "side": "client", "author": "bench", "message_type": "text"}


def rss_kib(pid: int) -> int:
    """Return the resident memory of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def connect(url: str) -> socketio.AsyncClient:
    """Return a connected websocket client."""
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"], wait_timeout=30)
    return client


async def throughput(url: str, clients: int, messages: int) -> None:
    """Measure room fan-out with ``clients`` members and ``messages`` messages."""
    members = [await connect(url) for _ in range(clients)]
    received = [0] * clients
    done = asyncio.Event()

    def counter(i: int):  # type: ignore[no-untyped-def]
        async def on_response(data: dict) -> None:  # type: ignore[type-arg]
            if data.get("sid"):
                received[i] += 1
                if sum(received) == clients * messages:
                    done.set()

        return on_response

    for i, member in enumerate(members):
        member.on("my_response", counter(i))
        await member.call("join", {"room": "bench"})
    sender = members[0]
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(messages):
        t = time.perf_counter()
        ack = await sender.call("message_event", {**MESSAGE, "message_data": f"m{n}"})
        assert ack["ok"], ack
        latencies.append(time.perf_counter() - t)
    stored = time.perf_counter() - started
    await asyncio.wait_for(done.wait(), 120)
    delivered = time.perf_counter() - started
    latencies.sort()
    print(f"chat: {clients} members, {messages} messages")
    p50, p99 = latencies[len(latencies) // 2] * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3
    mean = statistics.mean(latencies) * 1e3
    print(f"  stored+acked : {messages / stored:8.0f} msg/s   p50 {p50:.2f} ms   p99 {p99:.2f} ms   mean {mean:.2f} ms")
    print(f"  deliveries   : {clients * messages / delivered:8.0f} pushes/s")
    for member in members:
        await member.disconnect()


async def memory(url: str, pid: int, idle: int) -> None:
    """Measure the server's RSS growth per idle websocket connection."""
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    sockets = []
    for _ in range(idle):
        sockets.append(await connect(url))
    await asyncio.sleep(1)
    after = rss_kib(pid)
    print(
        f"memory: {idle} idle websocket connections: {(after - before) / idle:.1f} KiB per connection "
        f"(RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB)"
    )
    await asyncio.gather(*(s.disconnect() for s in sockets))


async def main() -> None:
    """Start a server and run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "mongo"], default="sqlite")
    parser.add_argument("--mongo-url")
    args = parser.parse_args()
    env = {"DESKLINE_DATA_DIR": tempfile.mkdtemp(prefix="deskline-bench-"), "DESKLINE_LOG_LEVEL": "WARNING"}
    if args.backend == "mongo":
        env |= {"DESKLINE_MONGO_URL": args.mongo_url, "DESKLINE_MONGO_DB": f"bench_{int(time.time())}"}
    server = await ServerProcess(env, free_port()).start()
    try:
        await throughput(server.url, args.clients, args.messages)
        assert server.proc is not None
        await memory(server.url, server.proc.pid, args.idle)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
