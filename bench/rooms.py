"""Room scenarios: broadcast fan-out (one or more instances), idle connections, and a join storm."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench import eio
from bench.load import HOST, chat_message, percentile
from bench.procs import CpuMeter, rss_kib
from bench.targets import Target

JOINED = "Joined the Room"


class Pushes:
    """Counts ``my_response`` pushes: room broadcasts (with their delay) and join notices."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.joined = 0
        self.last = time.perf_counter()
        self.want: tuple[int, int] | None = None  # (delays, join notices) that set ``done``
        self.done = asyncio.Event()

    async def wait_for(self, delays: int, joined: int, until: float) -> None:
        """Wait until that many broadcasts and join notices came, or until ``until`` (perf_counter)."""
        self.want = (delays, joined)
        self._check()
        try:
            await asyncio.wait_for(self.done.wait(), max(0.0, until - time.perf_counter()))
        except TimeoutError:
            pass

    def _check(self) -> None:
        if self.want and len(self.delays) >= self.want[0] and self.joined >= self.want[1]:
            self.done.set()

    def __call__(self, client: eio.Client, event: str, data: Any) -> None:
        """Record one push."""
        if event != "my_response" or not isinstance(data, dict):
            return
        now = self.last = time.perf_counter()
        text = data.get("data")
        if "sid" in data and isinstance(text, str) and text.startswith("t"):
            self.delays.append(now - float(text[1:]))
        elif isinstance(text, str) and text.endswith(JOINED):
            self.joined += 1
        if self.want:
            self._check()


async def connect_spread(
    target: Target, n: int, pushes: Pushes | None, auth: bool = False, extra: dict[str, Any] | None = None
) -> list[eio.Client]:
    """Open ``n`` clients, spread evenly over the target's instances (``extra``: more connect auth)."""
    conns: list[eio.Client] = []
    try:
        for i, server in enumerate(target.servers):
            share = n // len(target.servers) + (1 if i < n % len(target.servers) else 0)
            given = {**(target.auth if auth and target.auth else {}), **(extra or {})} or None
            conns += await eio.connect_many(HOST, server.port, share, given, pushes)
    except BaseException:
        eio.close_all(conns)
        raise
    return conns


async def join_all(conns: list[eio.Client], room: str, batch: int = 50) -> None:
    """Join ``room`` with every client, ``batch`` at a time, each batch acked before the next."""
    for i in range(0, len(conns), batch):
        acks = await asyncio.gather(*(c.call("join", {"room": room}, timeout=120) for c in conns[i : i + batch]))
        bad = [a for a in acks if not (isinstance(a, dict) and a.get("ok"))]
        if bad:
            raise RuntimeError(f"join failed: {bad[0]}")


async def quiet(pushes: Pushes, still: float, limit: float) -> bool:
    """Wait until no push came for ``still`` seconds (True), or ``limit`` seconds passed (False)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if time.perf_counter() - pushes.last >= still:
            return True
        await asyncio.sleep(0.1)
    return False


async def fan_out(
    target: Target, members: int, rate: float, seconds: float, grace: float = 3.0, recover: bool = False
) -> dict[str, Any]:
    """``members`` sockets in one room, one sender at ``rate`` messages/s; deliveries/s, delivered %, delay, and
    the server's RSS growth (KiB) over the run. ``recover``: the members opt in to connection-state recovery."""
    pushes = Pushes()
    room = f"fan-{uuid.uuid4().hex[:8]}"
    conns = await connect_spread(target, members, pushes, extra={"recover": True} if recover else None)
    sender = await eio.connect(HOST, target.port)
    try:
        await join_all(conns, room)
        settled = await quiet(pushes, 1.0, 180)  # the joins' own notices must be out of the way first
        rss_before = sum(rss_kib(s.pid) for s in target.servers)
        meter = CpuMeter(target.pids).start()
        total, sent = int(rate * seconds), 0
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                sender.emit("message_event", chat_message(room, f"t{time.perf_counter()!r}"), lambda _: None)
                sent += 1
            await asyncio.sleep(0.001)
        expected = total * members
        await pushes.wait_for(expected, 0, time.perf_counter() + grace)
        cpu = meter.stop()
        rss_growth = sum(rss_kib(s.pid) for s in target.servers) - rss_before
        delivered = len(pushes.delays)
        elapsed = max(pushes.last, start + seconds) - start
    finally:
        sender.close()
        eio.close_all(conns)
    delays = sorted(d * 1e3 for d in pushes.delays)
    return {
        "rate": delivered / elapsed,
        "delivered": delivered / expected,
        "p50": percentile(delays, 0.5),
        "p99": percentile(delays, 0.99),
        "settled": settled,
        "cpu": cpu,
        "rss_kib": rss_growth,
    }


async def idle(target: Target, n: int, concurrency: int = 100) -> dict[str, Any]:
    """Open ``n`` idle sockets; return the server's RSS growth per socket (KiB) and the connect time."""
    await asyncio.sleep(0.5)
    before = sum(rss_kib(s.pid) for s in target.servers)
    meter = CpuMeter(target.pids).start()
    started = time.perf_counter()
    conns = await eio.connect_many(HOST, target.port, n, None, None, concurrency)
    try:
        connect_s = time.perf_counter() - started
        cpu = meter.stop()
        await asyncio.sleep(2)
        after = sum(rss_kib(s.pid) for s in target.servers)
    finally:
        eio.close_all(conns)
    return {"kib": (after - before) / n, "connect_s": connect_s, "cpu": cpu}


async def join_storm(target: Target, n: int, limit: float) -> dict[str, Any]:
    """``n`` connected sockets all ``join`` one room at once; time until every join is acked and every notice out."""
    pushes = Pushes()
    conns = await eio.connect_many(HOST, target.port, n, None, pushes)
    room = f"storm-{uuid.uuid4().hex[:8]}"
    acked = [0]
    done = asyncio.Event()

    def on_ack(data: Any) -> None:
        acked[0] += 1
        if acked[0] == n:
            done.set()

    expected = n * (n - 1) // 2
    try:
        meter = CpuMeter(target.pids).start()
        started = time.perf_counter()
        for conn in conns:
            conn.emit("join", {"room": room}, on_ack)
        try:
            await asyncio.wait_for(done.wait(), limit)
            acked_s: float | None = time.perf_counter() - started
        except TimeoutError:
            acked_s = None
        await pushes.wait_for(0, expected, started + limit)
        notices_s = pushes.last - started if pushes.joined >= expected else None
        cpu = meter.stop()
    finally:
        eio.close_all(conns)
    return {
        "acked_s": acked_s,
        "notices_s": notices_s,
        "acked": acked[0] / n,
        "notices": pushes.joined / max(1, expected),
        "limit": limit,
        "cpu": cpu,
    }
