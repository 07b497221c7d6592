"""Issue 17 scenarios: what one Redis channel costs instances that don't hold a room, and ``--workers 2`` vs 1.

``room_traffic`` sends ``message_event`` to rooms whose members all sit on chosen instances, at a fixed rate,
and meters each instance's CPU (``/proc/<pid>/stat``) minus its own idle CPU over an equal quiet window, so
the CPU an instance spends on rooms it doesn't hold is read directly off the instances that hold none.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench import eio
from bench.load import HOST, chat_message
from bench.procs import CpuMeter, Server, free_port, python
from bench.targets import Target, create_admin, deskline_env, sign_in
from handlers.sio_sharding import shard_channel, shard_of


async def idle_cpu(pids: dict[str, int | str], seconds: float) -> dict[str, float]:
    """CPU of each process (% of one core) over ``seconds`` with no traffic: heartbeats, timers."""
    meter = CpuMeter(pids).start()
    await asyncio.sleep(seconds)
    return meter.stop()


async def room_traffic(
    target: Target, holders: list[int], members: int, rate: float, seconds: float, grace: float = 5.0
) -> dict[str, Any]:
    """One room per instance in ``holders``, ``members`` sockets in it on that instance only, and a sender on
    the same instance; ``rate`` messages/s in all, split evenly over the rooms, for ``seconds``.

    Returns per instance the CPU in % of one core with the idle CPU subtracted (``busy``), the messages
    published, the deliveries counted, and the CPU µs each published message cost each instance.
    """
    pids = {f"server{i}": s.pid for i, s in enumerate(target.servers)}
    delivered = [0]
    want = [0]
    all_in = asyncio.Event()

    def on_push(client: eio.Client, event: str, data: Any) -> None:
        if event == "my_response" and isinstance(data, dict) and "sid" in data:
            delivered[0] += 1
            if want[0] and delivered[0] >= want[0]:
                all_in.set()

    conns: list[eio.Client] = []
    senders: list[tuple[eio.Client, str]] = []
    try:
        for i in holders:
            port = target.servers[i].port
            room = f"scale-{i}-{uuid.uuid4().hex[:8]}"
            group = await eio.connect_many(HOST, port, members, None, on_push)
            conns += group
            acks = await asyncio.gather(*(c.call("join", {"room": room}, timeout=60) for c in group))
            if not all(isinstance(a, dict) and a.get("ok") for a in acks):
                raise RuntimeError(f"join failed on instance {i}")
            sender = await eio.connect(HOST, port)
            conns.append(sender)
            senders.append((sender, room))
        for server in target.servers:  # python-socketio subscribes an instance to the channel at its first
            conns.append(await eio.connect(HOST, server.port))  # connection: every instance holds a socket
        await asyncio.sleep(1.0)  # join notices out of the way
        delivered[0] = 0
        idle = await idle_cpu(pids, seconds)
        meter = CpuMeter(pids).start()
        total, sent = int(rate * seconds), 0
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                sender, room = senders[sent % len(senders)]
                sender.emit("message_event", chat_message(room, f"t{sent}"), lambda _: None)
                sent += 1
            await asyncio.sleep(0.001)
        expected = want[0] = total * members
        if delivered[0] >= expected:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), grace)
        except TimeoutError:
            pass
        await asyncio.sleep(0.5)  # the non-holders' share of the tail
        wall = time.perf_counter() - start
        cpu = meter.stop()
    finally:
        eio.close_all(conns)
    busy = {name: max(0.0, cpu[name] - idle[name]) for name in pids}
    return {
        "holders": [f"server{i}" for i in holders],
        "published": total,
        "delivered": delivered[0] / max(1, expected),
        "busy": busy,
        "idle": {name: idle[name] for name in pids},
        "wait": {name: cpu[f"wait:{name}"] for name in pids},
        "us_per_msg": {name: busy[name] / 100 * wall / total * 1e6 for name in pids},
    }


async def foreign_flood(target: Target, channel: str, rate: float, seconds: float, shards: int) -> dict[str, Any]:
    """Publish ``rate`` room emits/s for a room none of the instances holds (the message python-socketio's
    manager publishes for ``emit("my_response", ..., to=room)``) on the channel Deskline would use: the shared
    one, or the room's shard channel when ``shards`` > 0 (``DESKLINE_REDIS_SHARDS``). Straight from this process,
    so each instance's cost per foreign message is read without a holder's work mixed in. Returns CPU µs per
    message per instance (idle CPU subtracted).
    """
    import orjson
    from redis.asyncio import Redis

    pids = {f"server{i}": s.pid for i, s in enumerate(target.servers)}
    message = {"method": "emit", "event": "my_response", "data": [{"data": "hello", "sid": "x" * 20}],
               "binary": False, "namespace": "/", "room": f"chat:nobody-{uuid.uuid4().hex[:8]}",
               "skip_sid": None, "callback": None, "host_id": "bench-generator"}  # fmt: skip
    payload = orjson.dumps(message)
    if shards:
        channel = shard_channel(channel, shard_of(message["room"], shards))
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        idle = await idle_cpu(pids, seconds)
        meter = CpuMeter(pids).start()
        total, sent = int(rate * seconds), 0
        start = time.perf_counter()
        async with redis.pipeline(transaction=False) as pipe:
            while sent < total:
                due = min(total, int((time.perf_counter() - start) * rate) + 1)
                for _ in range(due - sent):
                    pipe.publish(channel, payload)
                sent = due
                await pipe.execute()
                await asyncio.sleep(0.002)
        await asyncio.sleep(1.0)  # the instances drain their subscription
        wall = time.perf_counter() - start
        cpu = meter.stop()
    finally:
        await redis.aclose()
    busy = {name: max(0.0, cpu[name] - idle[name]) for name in pids}
    return {
        "published": total,
        "busy": busy,
        "us_per_msg": {name: busy[name] / 100 * wall / total * 1e6 for name in pids},
        "wait": {name: cpu[f"wait:{name}"] for name in pids},
    }


def redis_scale_table(rows: list[tuple[int, str, dict[str, Any]]]) -> str:
    """Markdown for the redis-scale results: (instances, traffic, result) per row."""
    lines = [
        "| instances | traffic | delivered | holder CPU µs / msg | each non-holder CPU µs / msg "
        "| all instances CPU µs / msg | busy CPU % per instance | idle CPU % per instance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, traffic, r in rows:
        us = r["us_per_msg"]
        holders, others = r["holders"], [k for k in us if k not in r["holders"]]
        holder = sum(us[k] for k in holders) / len(holders)
        other = f"{sum(us[k] for k in others) / len(others):.0f}" if others else "–"
        busy = " / ".join(f"{r['busy'][k]:.1f}" for k in us)
        idle = " / ".join(f"{r['idle'][k]:.1f}" for k in us)
        lines.append(
            f"| {n} | {traffic} | {r['delivered']:.1%} | {holder:.0f} | {other} | {sum(us.values()):.0f} "
            f"| {busy} | {idle} |"
        )
    return "\n".join(lines)


def flood_table(rows: list[tuple[int, dict[str, Any]]]) -> str:
    """Markdown for the foreign-room flood: (instances, result) per row."""
    lines = [
        "| instances | CPU µs per foreign message, each instance | busy CPU % each | all instances µs / msg |",
        "|---|---|---|---|",
    ]
    for n, r in rows:
        us = r["us_per_msg"]
        each = " / ".join(f"{v:.0f}" for v in us.values())
        busy = " / ".join(f"{v:.1f}" for v in r["busy"].values())
        lines.append(f"| {n} | {each} | {busy} | {sum(us.values()):.0f} |")
    return "\n".join(lines)


def children(pid: int) -> list[int]:
    """The child process ids of ``pid`` (the workers of a ``--workers`` supervisor)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids += [int(p) for p in text]
    return kids


class PoolTarget(Target):
    """A ``--workers N`` pool: one port, CPU metered over the supervisor's children."""

    @property
    def pids(self) -> dict[str, int | str]:
        """Each worker process, and this generator."""
        kids = children(self.servers[0].pid) or [self.servers[0].pid]  # --workers 1 serves in the process itself
        return {f"server{i}": pid for i, pid in enumerate(kids)} | {"generator": "self"}


@asynccontextmanager
async def pool(workdir: Path, workers: int) -> AsyncIterator[PoolTarget]:
    """``python server.py --workers N`` with Redis, unpinned (the pool is meant to use every core)."""
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="deskline-pool-", dir=workdir))
    port = free_port()
    env = deskline_env(data_dir, port, "bench-secret-" + uuid.uuid4().hex, f"deskline-bench-{uuid.uuid4().hex[:12]}")
    cmd = [python(), "server.py", "--workers", str(workers)]
    server = Server("deskline", cmd, port, env, data_dir / "pool.log", None)
    await asyncio.to_thread(create_admin, server)
    try:
        await server.start()
        for _ in range(300):  # up to 30 s for every worker to exist
            if len(children(server.pid)) >= workers:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # every worker listening, start-up settled
        target = PoolTarget("deskline", [server])
        await sign_in(target)
        yield target
    finally:
        server.stop()
