"""Side-by-side bench: Node socket.io 4.8, bare python-socketio and Deskline, one lean generator, one run.

    python -m bench.run [--quick] [--rounds N] [--fan-rate N] [--only echo,...,redis,redis-scale,workers]

Every server is one process pinned to core 0 (``taskset``); this generator pins itself to core 1.
Each scenario starts fresh servers, measures, and stops them; every row shows the value for each
server, Deskline's ratio to Node from the same run, and each side's CPU use (% of one core:
``srv`` the server process(es), ``gen`` this generator). Needs ``npm ci`` in bench/node_ref once.
Scenarios: ``echo`` closed-loop acked no-storage event (+ a ``socket.io-client`` cross-check),
``message`` closed-loop ``message_event`` (stored on Deskline), ``rate`` fixed rate with latency
percentiles, ``fanout`` one room, ``idle`` connections, ``join`` storm, ``claims`` ``fetch_tickets``
(Deskline only), ``redis`` fan-out over two Deskline instances sharing Redis, ``redis-scale`` CPU per
message on instances holding a room and on those that don't, over 1, 2 and 4 instances on one Redis channel,
``workers`` ``--workers 1`` vs ``2``, ``recovery`` Deskline's fan-out with connection-state recovery off, on, and on
with every member opted in, ``layers`` both closed loops on Node, bare python-socketio, the same events on
Deskline's socket layer (``bench/py_ref.py --layer``) and Deskline (the last four print their own tables).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import load, rooms, scale
from bench.crosscheck import node_client_closed_loop
from bench.procs import CpuMeter, node_available
from bench.report import Report, best_round, cpu_text, describe, ratio_text
from bench.targets import ADMIN_EMAIL, ADMIN_PASSWORD, NAMES, Target, running
from config import Settings

SCENARIOS = (
    "echo", "message", "rate", "fanout", "idle", "join", "claims", "redis", "redis-scale", "workers", "recovery",
    "layers",
)  # fmt: skip
FULL = {"clients": 200, "in_flight": 10, "warmup": 1.0, "seconds": 8.0, "rate": 2000, "rate_s": 10.0,
        "members": 1000, "fan_rate": 50, "fan_s": 10.0, "idle": 5000, "storm": 1000, "storm_limit": 60.0,
        "agents": 20, "cycles": 30, "scale_members": 20, "scale_rate": 200, "scale_s": 6.0,
        "flood_rate": 2000}  # fmt: skip
QUICK = {"clients": 50, "in_flight": 10, "warmup": 0.5, "seconds": 3.0, "rate": 2000, "rate_s": 3.0,
         "members": 200, "fan_rate": 50, "fan_s": 3.0, "idle": 1000, "storm": 200, "storm_limit": 20.0,
         "agents": 5, "cycles": 5, "scale_members": 10, "scale_rate": 100, "scale_s": 3.0,
         "flood_rate": 1000}  # fmt: skip
SERVER_CORE, GENERATOR_CORE = 0, 1

Measure = Callable[[Target], Awaitable[dict[str, Any]]]


class Runner:
    """Runs each scenario against each server kind and feeds the report."""

    def __init__(self, args: argparse.Namespace, report: Report, workdir: Path) -> None:
        self.args, self.report, self.workdir = args, report, workdir
        self.size = dict(QUICK if args.quick else FULL)
        if args.fan_rate:
            self.size["fan_rate"] = args.fan_rate
        self.kinds = ["node", "py", "deskline"] if node_available() else ["py", "deskline"]
        self.extra: list[str] = []  # tables of the scenarios that don't fit the side-by-side one
        self.core = SERVER_CORE if os.cpu_count() and os.cpu_count() > 1 else None  # type: ignore[operator]

    async def each(self, label: str, measure: Measure, kinds: list[str] | None = None, **start: Any) -> None:
        """Run ``measure`` on fresh servers of every kind, ``--rounds`` times interleaved; add one report row."""
        self.report.row(label, await self.best_rounds(measure, kinds or self.kinds, **start))

    async def best_rounds(self, measure: Measure, kinds: list[str], **start: Any) -> dict[str, dict[str, Any]]:
        """Run ``measure`` on fresh servers of each of ``kinds``, ``--rounds`` times interleaved; each best round."""
        rounds: dict[str, list[dict[str, Any]]] = {}
        for _ in range(self.args.rounds):
            for kind in kinds:
                async with running(kind, self.workdir, self.core, **start) as target:
                    rounds.setdefault(kind, []).append(await measure(target))
        return {kind: best_round(results) for kind, results in rounds.items()}

    async def echo(self) -> None:
        """Closed-loop no-storage event, with the socket.io-client cross-check on the same servers."""
        s = self.size
        cross: dict[str, list[dict[str, Any]]] = {}

        async def measure(target: Target) -> dict[str, Any]:
            lean = await load.closed_loop(target, "cheap", s["clients"], s["in_flight"], s["warmup"], s["seconds"])
            if node_available():
                meter = CpuMeter({"server0": target.servers[0].pid}).start()
                result = await node_client_closed_loop(target, s["clients"], s["in_flight"], s["warmup"], s["seconds"])
                cpu = meter.stop() | {"generator": result["client_cpu"]}  # the driver's own CPU figure
                cross.setdefault(target.kind, []).append(result | {"cpu": cpu})
            return lean

        c = f"{s['clients']} clients × {s['in_flight']} in flight"
        await self.each(f"closed-loop acked no-storage event, {c} (events/s)", measure)
        if cross:
            label = f"  same, driven by Node socket.io-client 4.8.4 (cross-check, {c})"
            self.report.row(label, {kind: best_round(results) for kind, results in cross.items()})

    async def message(self) -> None:
        """Closed-loop ``message_event``."""
        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            return await load.closed_loop(target, "message", s["clients"], s["in_flight"], s["warmup"], s["seconds"])

        label = f"closed-loop acked `message_event` (Deskline: stored), {s['clients']} × {s['in_flight']} (events/s)"
        await self.each(label, measure)

    async def rate(self) -> None:
        """Fixed rate, both events."""
        s = self.size
        for which, name in (("cheap", "no-storage event"), ("message", "`message_event`")):

            async def measure(target: Target, which: str = which) -> dict[str, Any]:
                return await load.fixed_rate(target, which, s["clients"], s["rate"], s["warmup"], s["rate_s"])

            await self.each(f"{name} at a fixed {s['rate']:,}/s, p50 / p99 / p999 (ms)", measure)

    async def fanout(self) -> None:
        """One room, one sender."""
        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            return await rooms.fan_out(target, s["members"], s["fan_rate"], s["fan_s"])

        await self.each(f"fan-out: {s['members']:,} sockets in one room, {s['fan_rate']} messages/s", measure)

    async def idle(self) -> None:
        """Idle connections."""
        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            return await rooms.idle(target, s["idle"])

        await self.each(f"{s['idle']:,} idle connections: KiB each (RSS growth / n), connect time", measure)

    async def join(self) -> None:
        """Join storm."""
        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            return await rooms.join_storm(target, s["storm"], s["storm_limit"])

        await self.each(f"join storm: {s['storm']:,} sockets `join` one room at once", measure)

    async def claims(self) -> None:
        """``fetch_tickets`` claims/s on SQLite, with bench/claim.py's logic."""
        from bench import claim

        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            ns = argparse.Namespace(
                url=target.url, agents=s["agents"], cycles=s["cycles"], admin_email=ADMIN_EMAIL,
                admin_password=ADMIN_PASSWORD, setup=False, quiet=True,
            )  # fmt: skip
            meter = CpuMeter(target.pids).start()
            result = await claim.measure(ns)
            return result | {"cpu": meter.stop()}

        label = f"`fetch_tickets` claims/s, SQLite, {s['agents']} agents × {s['cycles']} cycles"
        await self.each(label, measure, kinds=["deskline"])

    async def redis(self) -> None:
        """Fan-out over two Deskline instances sharing Redis (both on the server core)."""
        s = self.size

        async def measure(target: Target) -> dict[str, Any]:
            return await rooms.fan_out(target, s["members"], s["fan_rate"], s["fan_s"])

        label = f"fan-out over 2 Deskline instances + Redis, {s['members']:,} sockets, {s['fan_rate']} messages/s"
        await self.each(label, measure, kinds=["deskline"], instances=2, redis=True)

    async def redis_scale(self) -> None:
        """1, 2 and 4 Deskline instances on one Redis channel: CPU per message on instances without the room."""
        s = self.size
        rows: list[tuple[int, str, dict[str, Any]]] = []
        floods: list[tuple[int, dict[str, Any]]] = []
        shards = Settings().redis_shards  # the instances inherit this environment's DESKLINE_REDIS_SHARDS
        for n in (1, 2, 4):
            async with running("deskline", self.workdir, self.core, instances=n, redis=True) as target:
                args = (s["scale_members"], s["scale_rate"], s["scale_s"])
                rows.append((n, "one room, on instance 0", await scale.room_traffic(target, [0], *args)))
                if n > 1:
                    spread = await scale.room_traffic(target, list(range(n)), *args)
                    rows.append((n, f"{n} rooms, one per instance", spread))
                channel = target.servers[0].env["DESKLINE_REDIS_CHANNEL"]
                flood = await scale.foreign_flood(target, channel, s["flood_rate"], s["scale_s"], shards)
                floods.append((n, flood))
            print(f"   redis-scale: {n} instance(s) done; load average {os.getloadavg()[0]:.2f}", flush=True)
        layout = f"{shards} shard channels" if shards else "one channel"
        head = f"Redis, {layout}: {s['scale_rate']} `message_event`/s in all, {s['scale_members']} members per room"
        self.extra.append(f"{head}, {s['scale_s']:.0f} s; all instances on core {self.core}\n\n")
        self.extra[-1] += scale.redis_scale_table(rows)
        self.extra.append(
            f"Emits for a room no instance holds, published on its channel ({layout}) at {s['flood_rate']:,}/s "
            f"for {s['scale_s']:.0f} s\n\n" + scale.flood_table(floods)
        )

    async def workers(self) -> None:
        """``--workers 1`` vs ``--workers 2`` (Redis, WebSocket): closed-loop acked events/s and fan-out."""
        s = self.size
        lines = ["| workers | closed-loop acked `get_presence` | fan-out |", "|---|---|---|"]
        for n in (1, 2):
            async with scale.pool(self.workdir, n) as target:
                args = (s["clients"], s["in_flight"], s["warmup"], s["seconds"])
                acked = await load.closed_loop(target, "cheap", *args)
                fan = await rooms.fan_out(target, s["members"], s["fan_rate"], s["fan_s"])
            codes = ", ".join(f"{code} ×{count}" for code, count in acked["errors"].items())
            lines.append(f"| {n} | {describe(acked)[0]}{f' [{codes}]' if codes else ''} ({cpu_text(acked['cpu'])}) "
                         f"| {describe(fan)[0]} ({cpu_text(fan['cpu'])}) |")  # fmt: skip
            print(f"   workers: {n} done; load average {os.getloadavg()[0]:.2f}", flush=True)
        head = f"`--workers`, Redis, unpinned; {s['clients']} clients × {s['in_flight']} in flight; fan-out"
        self.extra.append(f"{head} {s['members']} sockets × {s['fan_rate']} messages/s\n\n" + "\n".join(lines))

    async def recovery(self) -> None:
        """Fan-out with connection-state recovery off (window 0), on, and on with every member opted in.

        With ``--rounds`` > 1 the cases run in turn, every other round in reverse order, and the best round shows.
        """
        s = self.size
        # One process without Redis persists nothing nobody opted in to can ask back: "on, not opted in" persists
        # nothing since stop 22 (handlers.recovery_emits); "opted in" persists every broadcast.
        cases = [("off (window 0)", "0", False), ("on, members not opted in (nothing persisted)", "120", False)]
        cases.append(("on, every member opted in (offsets appended)", "120", True))
        results: dict[str, list[dict[str, Any]]] = {}
        for n in range(self.args.rounds):
            for label, window, recover in cases if n % 2 == 0 else list(reversed(cases)):
                env = {"DESKLINE_RECOVERY_WINDOW_SECONDS": window}
                async with running("deskline", self.workdir, self.core, env=env) as target:
                    fan = await rooms.fan_out(target, s["members"], s["fan_rate"], s["fan_s"], recover=recover)
                results.setdefault(label, []).append(fan)
                print(f"   recovery: {label} done; load average {os.getloadavg()[0]:.2f}", flush=True)
        lines = ["| recovery | fan-out | server RSS growth |", "|---|---|---|"]
        for label, _, _ in cases:
            fan = best_round(results[label])
            lines.append(f"| {label} | {describe(fan)[0]} ({cpu_text(fan['cpu'])}) | {fan['rss_kib']:,} KiB |")
        head = f"connection-state recovery, Deskline fan-out: {s['members']:,} sockets × {s['fan_rate']} messages/s"
        self.extra.append(head + "\n\n" + "\n".join(lines))

    async def layers(self) -> None:
        """Both closed loops on each stack: Node, bare python-socketio, Deskline's socket layer alone, Deskline.

        The socket layer runs the references' events (``bench/py_ref.py --layer``): the gap between it and
        Deskline is what Deskline's handlers do (sessions, validation, storage, metrics), the gap between it
        and the bare reference what the layer saves.
        """
        s = self.size
        kinds = [kind for kind in self.kinds if kind != "deskline"] + ["layer", "deskline"]
        lines = ["| closed loop | " + " | ".join(NAMES[kind] for kind in kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
        for which, name in (("cheap", "no-storage event"), ("message", "`message_event` (Deskline: stored)")):

            async def measure(target: Target, which: str = which) -> dict[str, Any]:
                return await load.closed_loop(target, which, s["clients"], s["in_flight"], s["warmup"], s["seconds"])

            best = await self.best_rounds(measure, kinds)
            cells = []
            for kind in kinds:
                vs = f" · {ratio_text(best, kind)} Node" if kind != "node" and "node" in best else ""
                cells.append(
                    f"{describe(best[kind])[0]} (`{best[kind]['event']}`){vs}<br>{cpu_text(best[kind]['cpu'])}"
                )
            lines.append(f"| {name}, {s['clients']} × {s['in_flight']} in flight | {' | '.join(cells)} |")
            print(f"   layers: {name} done; load average {os.getloadavg()[0]:.2f}", flush=True)
        self.extra.append("Each stack's closed loops (events/s)\n\n" + "\n".join(lines))


def machine() -> str:
    """One line about this machine and its load right now."""
    load1, load5, _ = os.getloadavg()
    cpu = platform.machine()
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu}), load average {load1:.2f} (1 min) / {load5:.2f} (5 min)"


async def main_async(args: argparse.Namespace) -> None:
    """Run the chosen scenarios and print the report; SIGINT/SIGTERM stop it and its servers."""
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {GENERATOR_CORE})
    chosen = [name.strip() for name in args.only.split(",")] if args.only else list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    report = Report()
    sizes = "quick" if args.quick else "full"
    print(f"bench: {sizes} sizes, {args.rounds} round(s); machine: {machine()}", flush=True)
    if not node_available():
        print("bench: Node reference missing (run `npm ci` in bench/node_ref); ratios to Node are left out")
    with tempfile.TemporaryDirectory(prefix="deskline-bench-") as tmp:
        runner = Runner(args, report, Path(tmp))
        for name in chosen:
            started = time.perf_counter()
            await getattr(runner, name.replace("-", "_"))()
            print(f"   ({name}: {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f})")
    print()
    print(f"machine: {machine()}")
    print(report.markdown())
    for table in runner.extra:
        print()
        print(table)


def main() -> None:
    """Parse arguments and run on uvloop."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter windows")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each scenario (interleaved); show the best")
    parser.add_argument("--fan-rate", type=int, help="messages/s of the fan-out scenarios (default 50)")
    parser.add_argument("--only", help=f"comma-separated scenarios out of: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    import uvloop

    try:
        uvloop.run(main_async(args))
    except asyncio.CancelledError:
        raise SystemExit("bench: stopped; its servers are stopped too") from None


if __name__ == "__main__":
    main()
