"""The cross-process pool race used by tests/test_pool.py: two servers, many agents, a busy admin.

The two ``python server.py`` processes share one database (a SQLite file or a MongoDB
database) and one Redis channel. Everything is checked from what the database recorded (via
``list_pool_tickets``), not from the order acks arrived in. The SQLite store reads its clock
inside each write transaction, so ``created_at``, ``assigned_at`` and ``sold_at`` follow
commit order across both processes and the cap and FIFO can be replayed over time; MongoDB
stamps times before the write, so there only the end state is judged on those two.

An admin socket on each server watches the pool: each must receive exactly one
``pool_changed`` per load, fetch and successful sale made on either server.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from auth.tokens import TokenIssuer
from config import Settings
from models.accounts import NewUser
from models.common import utc_now
from models.roles import Role
from services.accounts import principal_of
from storage import open_database
from storage.accounts import make_account_store
from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all

SECRET = "pool-load-secret-" + "z" * 40
BUYER = {"name": "Bo", "email": "bo@example.com"}


@dataclass(frozen=True)
class LoadPlan:
    """How hard to race: agents, the hold limit, how long, and how fast the admin loads tickets."""

    agents: int
    seconds: float
    cap: int = 15
    batch: int = 60
    admin_pause: float = 0.01


@dataclass
class LoadReport:
    """What the load did, for the test to judge it was a real race."""

    fetches: int = 0
    claimed: int = 0
    sales: int = 0
    sold: int = 0
    created: int = 0
    loads: int = 0
    unassigned_at_end: int = 0
    lost_sales: int = 0
    pushes_per_watcher: int = 0

    @property
    def changes(self) -> int:
        """Every operation that pushes ``pool_changed``: loads, fetches and successful sales."""
        return self.loads + self.fetches + self.sales


async def make_tokens(settings: Settings, agents: int) -> tuple[str, list[tuple[str, str]]]:
    """Create an admin and agents straight in the shared database; return their access tokens."""
    db = await open_database(settings)
    try:
        store = make_account_store(db)
        await store.init()
        issuer = TokenIssuer(SECRET, timedelta(minutes=15), timedelta(days=1))
        now = utc_now()

        async def make(role: Role, name: str) -> tuple[str, str]:
            new = NewUser(email=f"{name}@example.com", name=name, role=role, password_hash="!unusable")
            user = await store.create_user(new, now)
            return user.id, issuer.access_token(principal_of(user), now)

        _, admin = await make(Role.ADMIN, "admin")
        return admin, [await make(Role.AGENT, f"agent{i}") for i in range(agents)]
    finally:
        await db.close()


async def agent_loop(
    client: Client, agent_id: str, cap: int, owners: dict[str, str], stop: asyncio.Event, report: LoadReport
) -> None:
    """Fetch, check the ack, sell a few held tickets; repeat until told to stop."""
    rng = random.Random(agent_id)
    while not stop.is_set():
        data = await client.ok("fetch_tickets")
        held = data["tickets"]
        assert len(held) <= cap and data["limit"] == cap, data
        for ticket in held:
            assert ticket["agent_id"] == agent_id and ticket["status"] == "assigned", ticket
            assert owners.setdefault(ticket["id"], agent_id) == agent_id, f"{ticket['id']} given to two agents"
        report.fetches += 1
        report.claimed += data["claimed"]
        if held:
            chosen = rng.sample([t["id"] for t in held], rng.randint(1, min(3, len(held))))
            ack = await client.call("sell_tickets", {"ticket_ids": chosen, "customer": BUYER})
            if ack["ok"]:
                report.sales += 1
                report.sold += len(chosen)
            else:  # only the agent's twin socket (on the other server) may have sold some of them first
                assert ack["error"]["code"] == "conflict", ack
                assert {f["reason"] for f in ack["error"]["details"]["failed"]} == {"already_sold"}, ack
                report.lost_sales += 1
        await asyncio.sleep(rng.random() * 0.01)


async def admin_loop(client: Client, plan: LoadPlan, stop: asyncio.Event, report: LoadReport) -> None:
    """Keep loading small batches into the pool."""
    while not stop.is_set():
        data = await client.ok(
            "create_pool_tickets", {"tickets": [{"title": f"load {report.created + i}"} for i in range(plan.batch)]}
        )
        report.created += data["count"]
        report.loads += 1
        await asyncio.sleep(plan.admin_pause)


async def all_tickets(client: Client) -> list[dict[str, Any]]:
    """Every pool ticket, in creation order."""
    tickets, cursor = [], None
    while True:
        page = await client.ok("list_pool_tickets", {"limit": 100, **({"cursor": cursor} if cursor else {})})
        tickets += page["tickets"]
        if (cursor := page["next_cursor"]) is None:
            return tickets


def check_cap_over_time(tickets: list[dict[str, Any]], cap: int) -> None:
    """Replay every claim and sale per agent in commit order: nobody ever held more than the cap."""
    moves: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for t in tickets:
        if t["assigned_at"]:
            moves[t["agent_id"]].append((datetime.fromisoformat(t["assigned_at"]), +1))
        if t["sold_at"]:
            moves[t["agent_id"]].append((datetime.fromisoformat(t["sold_at"]), -1))
    for agent, events in moves.items():
        held = 0
        for _, step in sorted(events):
            held += step
            assert 0 <= held <= cap, f"agent {agent} held {held}"


def check_fifo(tickets: list[dict[str, Any]], commit_ordered: bool) -> None:
    """No ticket was claimed while an older one stayed unassigned after that claim committed.

    Without commit-ordered times (MongoDB) only the end state is checked: every ticket still
    unassigned is newer than every ticket ever claimed.
    """
    latest: datetime | None = None
    older_never_assigned = None
    for t in tickets:
        if t["assigned_at"] is None:
            older_never_assigned = older_never_assigned or t["id"]
            continue
        claimed_at = datetime.fromisoformat(t["assigned_at"])
        assert older_never_assigned is None, f"{t['id']} claimed while older {older_never_assigned} stays unassigned"
        assert not commit_ordered or latest is None or latest <= claimed_at, f"{t['id']} claimed before an older one"
        latest = max(latest or claimed_at, claimed_at)


async def run_two_process_load(
    data_dir: Path, plan: LoadPlan, redis_url: str, mongo_url: str | None = None
) -> LoadReport:
    """Race two server processes on one database (SQLite file, or MongoDB at ``mongo_url``) over one Redis.

    Checks every guarantee and that every ``pool_changed`` reached the watchers on both servers;
    returns what happened, for the test to judge it was a real race.
    """
    env = {
        "DESKLINE_DATA_DIR": str(data_dir),
        "DESKLINE_JWT_SECRET": SECRET,
        "DESKLINE_LOG_LEVEL": "WARNING",
        "DESKLINE_POOL_HOLD_LIMIT": str(plan.cap),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"pool-load-{uuid.uuid4().hex[:12]}",
    }
    if mongo_url:
        env |= {"DESKLINE_MONGO_URL": mongo_url, "DESKLINE_MONGO_DB": f"pool_load_{uuid.uuid4().hex[:12]}"}
    settings = Settings(
        data_dir=data_dir, jwt_secret=SECRET, mongo_url=mongo_url, mongo_db=env.get("DESKLINE_MONGO_DB", "deskline")
    )
    admin_token, agent_tokens = await make_tokens(settings, plan.agents)
    servers = [ServerProcess(env, free_port()) for _ in range(2)]
    clients: list[Client] = []
    report, owners, stop = LoadReport(), {}, asyncio.Event()
    try:
        await start_all(*servers)
        admin = await connect_client(servers[0].url, admin_token)
        auditor = await connect_client(servers[1].url, admin_token)
        clients += [admin, auditor]
        for watcher in (admin, auditor):  # one admin socket per server watches every change on either
            await watcher.ok("watch_pool")
        # every agent on one server; every third one also on the other (one agent, two processes at once)
        sockets = [(agent_id, servers[i % 2], tok) for i, (agent_id, tok) in enumerate(agent_tokens)]
        sockets += [(a, servers[(i + 1) % 2], tok) for i, (a, tok) in enumerate(agent_tokens) if i % 3 == 0]
        agent_clients = [(agent_id, await connect_client(server.url, tok)) for agent_id, server, tok in sockets]
        clients += [c for _, c in agent_clients]
        loops = [asyncio.ensure_future(admin_loop(admin, plan, stop, report))]
        loops += [
            asyncio.ensure_future(agent_loop(c, agent_id, plan.cap, owners, stop, report))
            for agent_id, c in agent_clients
        ]
        await asyncio.sleep(plan.seconds)
        stop.set()
        await asyncio.gather(*loops)

        tickets = await all_tickets(auditor)
        assert len(tickets) == report.created == len({t["id"] for t in tickets})
        for t in tickets:
            if t["id"] in owners:
                assert t["agent_id"] == owners[t["id"]], t
        unsold = Counter(t["agent_id"] for t in tickets if t["status"] == "assigned")
        assert max(unsold.values(), default=0) <= plan.cap, unsold
        assert sum(t["status"] == "sold" for t in tickets) == report.sold
        commit_ordered = mongo_url is None
        if commit_ordered:
            check_cap_over_time(tickets, plan.cap)
        check_fifo(tickets, commit_ordered)
        counts = Counter(t["status"] for t in tickets)
        watched = await auditor.ok("watch_pool")
        assert watched["counts"] == {s: counts.get(s, 0) for s in ("unassigned", "assigned", "sold")}
        report.unassigned_at_end = counts.get("unassigned", 0)

        # each watcher got one push per change made on either server: none lost between instances, none doubled
        for watcher in (admin, auditor):
            await watcher.inbox.wait_count("pool_changed", report.changes, timeout=30)
        await asyncio.sleep(0.5)
        report.pushes_per_watcher = report.changes
        for watcher in (admin, auditor):
            assert len(watcher.inbox.of("pool_changed")) == report.changes
        # a fetch by an agent connected only to server 0 reaches the watcher on server 1, with the counts it left
        lone = next(
            c
            for (agent_id, server, _), (_, c) in zip(sockets, agent_clients, strict=True)
            if server is servers[0] and [a for a, _, _ in sockets].count(agent_id) == 1
        )
        await lone.ok("fetch_tickets")
        pushed = await auditor.inbox.wait_count("pool_changed", report.changes + 1)
        assert pushed[-1] == await auditor.ok("watch_pool")
        return report
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            server.stop()
        for server in servers:
            assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]
