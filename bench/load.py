"""Request/response scenarios: closed-loop acked events, and a fixed event rate with latency percentiles."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import eio
from bench.procs import CpuMeter
from bench.targets import Target

HOST = "127.0.0.1"
CHAT = {"type": "chat", "side": "client", "author": "bench", "message_type": "text"}


def chat_message(room: str, data: str) -> dict[str, Any]:
    """A Dowell ``message_event`` payload."""
    return {**CHAT, "room_id": room, "message_data": data}


def event_of(target: Target, which: str) -> tuple[str, Any]:
    """Return (event, payload) for ``which``: ``cheap`` (no storage) or ``message`` (``message_event``)."""
    if which == "cheap":
        return target.echo_event, target.echo_payload
    return "message_event", chat_message("bench-closed-loop", "hello")


def percentile(sorted_values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of already sorted values (nearest rank)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def closed_loop(
    target: Target, which: str, clients: int, in_flight: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """``clients`` sockets each keep ``in_flight`` acked events outstanding; return acks/s and CPU."""
    event, payload = event_of(target, which)
    conns = await eio.connect_many(HOST, target.port, clients, target.auth)
    state = {"counting": False, "running": True, "acks": 0, "bad": 0}
    errors: dict[str, int] = {}  # error acks by code

    def looper(conn: eio.Client):  # type: ignore[no-untyped-def]
        def on_ack(data: Any) -> None:
            if not (isinstance(data, dict) and data.get("ok")):
                state["bad"] += 1
                code = str((data.get("error") or {}).get("code")) if isinstance(data, dict) else repr(data)[:40]
                errors[code] = errors.get(code, 0) + 1
            if state["counting"]:
                state["acks"] += 1
            if state["running"]:
                conn.emit(event, payload, on_ack)

        return on_ack

    try:
        for conn in conns:
            on_ack = looper(conn)
            for _ in range(in_flight):
                conn.emit(event, payload, on_ack)
        await asyncio.sleep(warmup)
        meter = CpuMeter(target.pids).start()
        started = time.perf_counter()
        state["counting"] = True
        await asyncio.sleep(seconds)
        state["counting"] = False
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
        state["running"] = False
        await asyncio.sleep(0.5)
    finally:
        eio.close_all(conns)
    return {"event": event, "rate": state["acks"] / elapsed, "bad_acks": state["bad"], "errors": errors, "cpu": cpu}


async def fixed_rate(target: Target, which: str, clients: int, rate: float, warmup: float, seconds: float) -> dict:
    """Send ``rate`` acked events/s round-robin over ``clients`` sockets; return latency percentiles in ms.

    Latency runs from each event's send to its ack. The sender never waits for acks, so a slow server
    cannot hold sends back (no coordinated omission); how late the sender itself was against the
    schedule is reported as ``late_p99`` (ms).
    """
    event, payload = event_of(target, which)
    conns = await eio.connect_many(HOST, target.port, clients, target.auth)
    latencies: list[float] = []
    total, skip = int(rate * (warmup + seconds)), int(rate * warmup)
    start = time.perf_counter() + 0.05
    answered = [0]
    all_answered = asyncio.Event()

    late: list[float] = []

    def recorder(sent_at: float, keep: bool):  # type: ignore[no-untyped-def]
        def on_ack(data: Any) -> None:
            answered[0] += 1
            if keep:
                latencies.append(time.perf_counter() - sent_at)
            if answered[0] == total:
                all_answered.set()

        return on_ack

    try:
        meter: CpuMeter | None = None
        sent = 0
        while sent < total:
            now = time.perf_counter()
            due = min(total, int((now - start) * rate) + 1)
            while sent < due:
                if sent == skip:
                    meter = CpuMeter(target.pids).start()
                now = time.perf_counter()
                late.append(now - (start + sent / rate))
                conns[sent % clients].emit(event, payload, recorder(now, sent >= skip))
                sent += 1
            await asyncio.sleep(0.001)  # uvloop rounds shorter sleeps to 0: a busy loop
        try:
            await asyncio.wait_for(all_answered.wait(), 10)
        except TimeoutError:
            pass
        cpu = meter.stop() if meter else {}
    finally:
        eio.close_all(conns)
    latencies.sort()
    ms = [v * 1e3 for v in latencies]
    return {
        "event": event,
        "p50": percentile(ms, 0.50),
        "p99": percentile(ms, 0.99),
        "p999": percentile(ms, 0.999),
        "answered": len(latencies) / max(1, total - skip),
        "late_p99": percentile(sorted(late[skip:]), 0.99) * 1e3,
        "cpu": cpu,
    }
