"""Benchmark the pull pool against a running Deskline server: N agents x M fetch/sell cycles.

    python bench/claim.py http://127.0.0.1:8000 --agents 20 --cycles 50 \\
        --admin-email admin@example.com --admin-password 'long password' [--setup]

``--setup`` first creates that admin in the server's database, reading the same
``DESKLINE_*`` environment as the server (so run it with the server's DATA_DIR or
MONGO_URL); without it the admin must exist. The bench then creates its agents with
``create_user``, loads agents x cycles x limit tickets with ``create_pool_tickets`` (not
timed), and times the cycles: each agent fetches (claiming up to the limit) and sells
everything it holds, M times, all agents at once. It prints tickets claimed per second
and the p50/p99 latency of fetch_tickets and sell_tickets, as the client sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "bench agent password"
BATCH = 1000
BUYER = {"name": "Bench Buyer", "email": "buyer@example.com"}


class Agent:
    """One bench client: a socket and its timings."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.fetch_ms: list[float] = []
        self.sell_ms: list[float] = []
        self.claimed = 0

    async def call(self, event: str, payload: Any = None) -> Any:
        """Emit ``event`` and return the ack data, raising on an error ack."""
        ack = await self.sio.call(event, payload or {}, timeout=60)
        if not ack.get("ok"):
            raise RuntimeError(f"{event} failed: {ack.get('error')}")
        return ack["data"]

    async def sign_in(self, email: str, password: str) -> None:
        """Connect and log in."""
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        await self.call("login", {"email": email, "password": password})

    async def cycles(self, count: int) -> None:
        """Fetch then sell everything held, ``count`` times."""
        for _ in range(count):
            started = time.perf_counter()
            data = await self.call("fetch_tickets")
            self.fetch_ms.append((time.perf_counter() - started) * 1e3)
            self.claimed += data["claimed"]
            ids = [t["id"] for t in data["tickets"]]
            if not ids:
                break
            started = time.perf_counter()
            await self.call("sell_tickets", {"ticket_ids": ids, "customer": BUYER})
            self.sell_ms.append((time.perf_counter() - started) * 1e3)


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def create_admin(email: str, password: str) -> None:
    """Create the admin in the server's database (same DESKLINE_* environment); fine if it exists."""
    from config import Settings
    from data_tools import create_admin as make

    try:
        await make(Settings(), email, password, "Bench admin")
    except Exception as exc:
        print(f"admin not created ({getattr(exc, 'message', exc)}); assuming it exists")


async def prepare(args: argparse.Namespace, admin: Agent, agents: list[Agent]) -> tuple[int, float]:
    """Sign everyone in, create the agents, load the pool; return the hold limit and the load time."""
    await admin.sign_in(args.admin_email, args.admin_password)
    run_id = uuid.uuid4().hex[:8]
    for i, agent in enumerate(agents):
        email = f"bench-{run_id}-{i}@example.com"
        await admin.call("create_user", {"email": email, "password": PASSWORD, "name": f"bench {i}", "role": "agent"})
        await agent.sign_in(email, PASSWORD)
    first = await agents[0].call("fetch_tickets")  # learns the hold limit; sells leftovers of earlier runs
    if first["tickets"]:
        await agents[0].call("sell_tickets", {"ticket_ids": [t["id"] for t in first["tickets"]], "customer": BUYER})
    total = args.agents * args.cycles * first["limit"]
    started = time.perf_counter()
    for offset in range(0, total, BATCH):
        size = min(BATCH, total - offset)
        await admin.call("create_pool_tickets", {"tickets": [{"title": f"bench {offset + i}"} for i in range(size)]})
    return first["limit"], time.perf_counter() - started


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Set up agents and tickets, run the cycles; return the numbers (claims/s, latencies in ms)."""
    if args.setup:
        await create_admin(args.admin_email, args.admin_password)
    admin, agents = Agent(args.url), [Agent(args.url) for _ in range(args.agents)]
    try:
        limit, load_s = await prepare(args, admin, agents)
        if not args.quiet:
            print(f"running {args.agents} agents x {args.cycles} cycles...", flush=True)
        started = time.perf_counter()
        await asyncio.gather(*(agent.cycles(args.cycles) for agent in agents))
        elapsed = time.perf_counter() - started
        pool = await admin.call("watch_pool")
    finally:
        for client in (admin, *agents):
            if client.sio.connected:
                await client.sio.disconnect()
    claimed = sum(a.claimed for a in agents)
    fetch = [ms for a in agents for ms in a.fetch_ms]
    sell = [ms for a in agents for ms in a.sell_ms]
    return {
        "limit": limit,
        "loaded": args.agents * args.cycles * limit,
        "load_s": load_s,
        "claimed": claimed,
        "elapsed": elapsed,
        "rate": claimed / elapsed,
        "fetch": (len(fetch), percentile(fetch, 0.5), percentile(fetch, 0.99)),
        "sell": (len(sell), percentile(sell, 0.5), percentile(sell, 0.99)),
        "pool": pool["counts"],
    }


async def run(args: argparse.Namespace) -> None:
    """Run the bench and print the numbers."""
    r = await measure(args)
    print(f"server {args.url}  agents {args.agents}  cycles {args.cycles}  hold limit {r['limit']}")
    print(f"loaded {r['loaded']} tickets in {r['load_s']:.2f} s ({r['loaded'] / r['load_s']:,.0f}/s)")
    print(f"claimed {r['claimed']} tickets in {r['elapsed']:.2f} s: {r['rate']:,.0f} claims/s")
    for name in ("fetch", "sell"):
        n, p50, p99 = r[name]
        print(f"{name + '_tickets':<14} n={n}  p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    print(f"pool now {r['pool']}")


def main() -> None:
    """Parse arguments and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=50, help="fetch/sell cycles per agent")
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--setup", action="store_true", help="create the admin first (server's DESKLINE_* env)")
    args = parser.parse_args()
    args.quiet = False
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
