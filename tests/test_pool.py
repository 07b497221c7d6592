"""Pull assignment, driven by real Socket.IO clients against real servers (and two server processes)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from models.roles import Role
from storage.database import new_id
from tests.conftest import REAL_MONGO, signed_in
from tests.helpers import Client, RunningServer
from tests.pool_load import LoadPlan, run_two_process_load

BUYER = {"name": "Ada Buyer", "email": "ada@example.com"}
MONGO_AGENTS, MONGO_CAP = 3, 3  # the cross-process MongoDB race (README quotes these)


async def staff(server: RunningServer, agents: int) -> tuple[Client, list[tuple[Client, str]]]:
    """Return an admin client and ``agents`` agent clients with their user ids."""
    admin, _ = await signed_in(server, Role.ADMIN)
    made = [await signed_in(server, Role.AGENT, name=f"agent {i}") for i in range(agents)]
    return admin, [(client, info["user"]["id"]) for client, info in made]


async def load(admin: Client, n: int, prefix: str = "t") -> list[str]:
    """Create ``n`` pool tickets in one batch; return their ids."""
    data = await admin.ok("create_pool_tickets", {"tickets": [{"title": f"{prefix}{i}"} for i in range(n)]})
    assert data["count"] == n and len(data["ids"]) == n
    return list(data["ids"])


async def every_ticket(client: Client, **filters: Any) -> list[dict[str, Any]]:
    """Page through ``list_pool_tickets`` and return every ticket the caller may see."""
    tickets, cursor = [], None
    while True:
        data = await client.ok("list_pool_tickets", {**filters, "limit": 100, **({"cursor": cursor} if cursor else {})})
        tickets += data["tickets"]
        cursor = data["next_cursor"]
        if cursor is None:
            return tickets


async def test_fetch_sell_and_watch(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend)
    admin, [(agent, agent_id)] = await staff(server, 1)
    customer, customer_info = await signed_in(server, Role.CLIENT)
    assert await admin.ok("watch_pool") == {"counts": {"unassigned": 0, "assigned": 0, "sold": 0}, "total": 0}

    first = await admin.ok("create_pool_tickets", {"title": "first", "details": "call back", "priority": "high"})
    ids = first["ids"] + await load(admin, 19)
    await admin.inbox.wait_for("pool_changed", lambda m: m["total"] == 20)

    got = await agent.ok("fetch_tickets")
    assert (got["claimed"], got["limit"], got["limit_reached"]) == (15, 15, False)
    assert [t["id"] for t in got["tickets"]] == ids[:15]
    head = got["tickets"][0]
    assert (head["title"], head["details"], head["priority"]) == ("first", "call back", "high")
    assert all(t["status"] == "assigned" and t["agent_id"] == agent_id for t in got["tickets"])
    push = await admin.inbox.wait_for("pool_changed", lambda m: m["counts"]["assigned"] == 15)
    assert push == {"counts": {"unassigned": 5, "assigned": 15, "sold": 0}, "total": 20}

    again = await agent.ok("fetch_tickets", {})
    assert (again["claimed"], again["limit_reached"]) == (0, True)
    assert again["tickets"] == got["tickets"]

    sale = await agent.ok(
        "sell_tickets",
        {"ticket_ids": ids[3:6], "customer": {"name": " Cleo ", "email": customer_info["email"].upper()}},
    )
    assert [t["id"] for t in sale["tickets"]] == ids[3:6]
    assert sale["customer"] == {"name": "Cleo", "email": customer_info["email"]}
    assert all(t["status"] == "sold" and t["customer"] == sale["customer"] for t in sale["tickets"])
    assert {t["sold_at"] for t in sale["tickets"]} == {sale["sold_at"]}
    note = await customer.inbox.wait_for("notification", lambda n: n["kind"] == "pool_tickets_sold")
    assert note["data"]["ticket_ids"] == ids[3:6] and note["data"]["agent_id"] == agent_id
    await admin.inbox.wait_for("pool_changed", lambda m: m["counts"] == {"unassigned": 5, "assigned": 12, "sold": 3})

    refill = await agent.ok("fetch_tickets")
    assert refill["claimed"] == 3 and refill["limit_reached"] is False
    assert [t["id"] for t in refill["tickets"]] == ids[:3] + ids[6:18]

    mine = await every_ticket(agent)
    assert [t["id"] for t in mine] == ids[:18]
    assert [t["id"] for t in await every_ticket(agent, status="sold")] == ids[3:6]
    page = await admin.ok("list_pool_tickets", {"status": "unassigned", "limit": 1})
    assert [t["id"] for t in page["tickets"]] == ids[18:19] and page["next_cursor"]
    rest = await admin.ok("list_pool_tickets", {"status": "unassigned", "cursor": page["next_cursor"]})
    assert [t["id"] for t in rest["tickets"]] == ids[19:] and rest["next_cursor"] is None
    assert [t["id"] for t in await every_ticket(admin, agent_id=agent_id, status="assigned")] == ids[:3] + ids[6:18]

    await admin.ok("unwatch_pool")
    seen = len(admin.inbox.of("pool_changed"))
    await agent.ok("sell_tickets", {"ticket_ids": ids[:1], "customer": BUYER})
    await asyncio.sleep(0.3)
    assert len(admin.inbox.of("pool_changed")) == seen
    assert agent.inbox.of("pool_changed") == [] and customer.inbox.of("pool_changed") == []


def counted(unassigned: int, assigned: int, sold: int) -> dict[str, Any]:
    """Return the ``pool_changed`` payload of these counts."""
    return {
        "counts": {"unassigned": unassigned, "assigned": assigned, "sold": sold},
        "total": unassigned + assigned + sold,
    }


async def test_every_fetch_sale_and_load_pushes_counts(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """``pool_changed`` follows every fetch (even one that claimed nothing), sale and load; refusals push nothing."""
    server = await start_server(backend, pool_hold_limit=2)
    admin, [(first, _), (second, _)] = await staff(server, 2)
    await admin.ok("watch_pool")
    pushes: list[dict[str, Any]] = []

    async def expect(after: dict[str, Any]) -> None:
        pushes.append(after)
        got = await admin.inbox.wait_count("pool_changed", len(pushes), timeout=5)
        assert got == pushes

    await load(admin, 3)
    await expect(counted(3, 0, 0))
    held = await first.ok("fetch_tickets")
    assert held["claimed"] == 2
    await expect(counted(1, 2, 0))
    at_limit = await first.ok("fetch_tickets")
    assert (at_limit["claimed"], at_limit["limit_reached"]) == (0, True)
    await expect(counted(1, 2, 0))
    assert (await second.ok("fetch_tickets"))["claimed"] == 1
    await expect(counted(0, 3, 0))
    dry = await second.ok("fetch_tickets")
    assert (dry["claimed"], dry["limit_reached"]) == (0, False)
    await expect(counted(0, 3, 0))
    ids = [t["id"] for t in held["tickets"]]
    await first.ok("sell_tickets", {"ticket_ids": ids[:1], "customer": BUYER})
    await expect(counted(0, 2, 1))

    await first.error("sell_tickets", {"ticket_ids": ids[:1], "customer": BUYER}, "conflict")
    await first.error(
        "sell_tickets", {"ticket_ids": ids[1:], "customer": {"name": "x", "email": "nope"}}, "invalid_payload"
    )
    await admin.error("fetch_tickets", {}, "forbidden")
    await load(admin, 1)
    await expect(counted(1, 2, 1))  # the refusals above pushed nothing: this is the very next push
    await asyncio.sleep(0.3)
    assert admin.inbox.of("pool_changed") == pushes


async def test_five_agents_split_the_pool(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """The seed test: 5 agents fetch at once from 100 tickets -> 75 assigned, 15 each, none twice.

    secantusdb is slow under contended writes, so on it the pool is 20 and the cap 3 (same shape).
    """
    full = backend == "sqlite" or REAL_MONGO
    pool, cap = (100, 15) if full else (20, 3)
    server = await start_server(backend, pool_hold_limit=cap)
    admin, agents = await staff(server, 5)
    ids = await load(admin, pool)

    acks = await asyncio.gather(*(client.ok("fetch_tickets") for client, _ in agents))
    taken = [t["id"] for ack in acks for t in ack["tickets"]]
    assert [ack["claimed"] for ack in acks] == [cap] * 5
    assert len(taken) == len(set(taken)) == 5 * cap
    assert sorted(taken) == ids[: 5 * cap]
    for ack, (_, agent_id) in zip(acks, agents, strict=True):
        assert {t["agent_id"] for t in ack["tickets"]} == {agent_id}

    stored = await every_ticket(admin)
    assert Counter(t["status"] for t in stored) == {"assigned": 5 * cap, "unassigned": pool - 5 * cap}
    assert Counter(t["agent_id"] for t in stored if t["agent_id"]) == {a: cap for _, a in agents}
    assert await admin.ok("watch_pool") == {
        "counts": {"unassigned": pool - 5 * cap, "assigned": 5 * cap, "sold": 0},
        "total": pool,
    }


async def test_one_agent_on_many_sockets_stays_capped(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, pool_hold_limit=4)
    admin, [(first, agent_id)] = await staff(server, 1)
    token = first.sio.connection_auth["token"]
    sockets = [first] + [await server.client(token=token) for _ in range(3)]
    await load(admin, 12)
    acks = await asyncio.gather(*(s.ok("fetch_tickets") for s in sockets))
    assert sum(a["claimed"] for a in acks) == 4
    assert all(len(a["tickets"]) <= 4 for a in acks)
    assert len(await every_ticket(admin, agent_id=agent_id)) == 4


async def test_racing_sales_on_two_sockets_sell_once(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, pool_hold_limit=6)
    admin, [(agent, agent_id)] = await staff(server, 1)
    twin = await server.client(token=agent.sio.connection_auth["token"])
    await load(admin, 6)
    held = [t["id"] for t in (await agent.ok("fetch_tickets"))["tickets"]]
    buyers = [{"name": "Left", "email": "left@example.com"}, {"name": "Right", "email": "right@example.com"}]
    for pair in (held[0:2], held[2:4], held[4:6]):
        acks = await asyncio.gather(
            *(
                s.call("sell_tickets", {"ticket_ids": pair, "customer": b})
                for s, b in zip((agent, twin), buyers, strict=True)
            )
        )
        winners = [i for i, ack in enumerate(acks) if ack["ok"]]
        assert len(winners) == 1, acks
        loser = acks[1 - winners[0]]["error"]
        assert loser["code"] == "conflict"
        assert loser["details"]["failed"] == [{"ticket_id": i, "reason": "already_sold"} for i in pair]
        stored = [t for t in await every_ticket(admin, status="sold") if t["id"] in pair]
        assert [t["customer"] for t in stored] == [buyers[winners[0]]] * 2
    assert len(await every_ticket(admin, agent_id=agent_id, status="sold")) == 6


async def test_bad_sales_change_nothing(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, pool_hold_limit=4)
    admin, [(me, _), (them, _)] = await staff(server, 2)
    client, _ = await signed_in(server, Role.CLIENT)
    anonymous = await server.client()
    ids = await load(admin, 10)
    mine = [t["id"] for t in (await me.ok("fetch_tickets"))["tickets"]]
    theirs = [t["id"] for t in (await them.ok("fetch_tickets"))["tickets"]]
    await me.ok("sell_tickets", {"ticket_ids": mine[:1], "customer": BUYER})
    before = await every_ticket(admin)
    unknown = new_id()

    refusals = [
        ([mine[1], theirs[0]], "forbidden", {theirs[0]: "not_yours"}),
        ([mine[1], unknown], "not_found", {unknown: "not_found"}),
        ([ids[-1]], "forbidden", {ids[-1]: "not_yours"}),
        ([mine[2], mine[0]], "conflict", {mine[0]: "already_sold"}),
        (
            [theirs[1], unknown, mine[0]],
            "not_found",
            {theirs[1]: "not_yours", unknown: "not_found", mine[0]: "already_sold"},
        ),
    ]
    for requested, code, reasons in refusals:
        error = await me.error("sell_tickets", {"ticket_ids": requested, "customer": BUYER}, code)
        assert {f["ticket_id"]: f["reason"] for f in error["details"]["failed"]} == reasons

    invalid = [
        {"ticket_ids": [mine[1], mine[1]], "customer": BUYER},
        {"ticket_ids": [], "customer": BUYER},
        {"ticket_ids": [*mine[1:], *theirs], "customer": BUYER},
        {"ticket_ids": [mine[1]], "customer": {"name": "Bo", "email": "not-an-email"}},
        {"ticket_ids": [mine[1]], "customer": {"name": "   ", "email": "bo@example.com"}},
        {"ticket_ids": [mine[1]], "customer": {"email": "bo@example.com"}},
        {"ticket_ids": [mine[1]]},
        {"ticket_ids": mine[1], "customer": BUYER},
        {"ticket_ids": [7], "customer": BUYER},
        {"ticket_ids": [mine[1]], "customer": BUYER, "discount": 10},
        "sell it all",
        None,
    ]
    for payload in invalid:
        await me.error("sell_tickets", payload, "invalid_payload")
    repeated = await me.error("sell_tickets", {"ticket_ids": [mine[1], mine[1]], "customer": BUYER}, "invalid_payload")
    assert mine[1] in repeated["details"][0]["message"]

    for caller, code in ((admin, "forbidden"), (client, "forbidden"), (anonymous, "unauthorized")):
        await caller.error("sell_tickets", {"ticket_ids": [mine[1]], "customer": BUYER}, code)
    assert await every_ticket(admin) == before
    assert (await me.ok("sell_tickets", {"ticket_ids": mine[1:], "customer": BUYER}))["tickets"]


async def test_sale_boundaries_are_exact_and_write_nothing_when_refused(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Selling exactly the limit works; one more id, a ticket sold already or someone else's, change nothing."""
    server = await start_server(backend, pool_hold_limit=4)
    admin, [(me, my_id), (them, _)] = await staff(server, 2)
    ids = await load(admin, 10)
    mine = [t["id"] for t in (await me.ok("fetch_tickets"))["tickets"]]
    theirs = [t["id"] for t in (await them.ok("fetch_tickets"))["tickets"]]
    assert (mine, theirs) == (ids[:4], ids[4:8])

    async def refused(requested: list[str], code: str, customer: dict[str, str] = BUYER) -> dict[str, Any]:
        before = await every_ticket(admin)
        error = await me.error("sell_tickets", {"ticket_ids": requested, "customer": customer}, code)
        assert await every_ticket(admin) == before, requested
        return error

    over = await refused([*mine, theirs[0]], "invalid_payload")
    assert over["details"] == [{"field": "ticket_ids", "message": "5 ids; the limit is 4"}]
    long_name = {"name": "n" * 201, "email": "long@example.com"}
    await refused(mine, "invalid_payload", long_name)

    sale = await me.ok("sell_tickets", {"ticket_ids": mine, "customer": {**long_name, "name": "n" * 200}})
    assert [t["id"] for t in sale["tickets"]] == mine and {t["status"] for t in sale["tickets"]} == {"sold"}

    twice = await refused(mine, "conflict")
    assert twice["details"] == {"failed": [{"ticket_id": i, "reason": "already_sold"} for i in mine], "sold": 0}
    refill = await me.ok("fetch_tickets")
    assert [t["id"] for t in refill["tickets"]] == ids[8:10]
    for requested, code, failed in (
        ([ids[8], mine[0]], "conflict", [{"ticket_id": mine[0], "reason": "already_sold"}]),
        ([ids[9], theirs[0]], "forbidden", [{"ticket_id": theirs[0], "reason": "not_yours"}]),
    ):
        assert (await refused(requested, code))["details"] == {"failed": failed, "sold": 0}
    assert [t["status"] for t in await every_ticket(admin, agent_id=my_id)] == ["sold"] * 4 + ["assigned"] * 2


async def test_held_tickets_survive_a_disconnect(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """A disconnect releases nothing: others never get the tickets, and the agent sells them from a new socket."""
    server = await start_server(backend, pool_hold_limit=3)
    admin, [(leaver, leaver_id), (other, _)] = await staff(server, 2)
    token = leaver.sio.connection_auth["token"]
    ids = await load(admin, 6)
    held = [t["id"] for t in (await leaver.ok("fetch_tickets"))["tickets"]]
    await leaver.close()
    await asyncio.sleep(0.2)
    assert [t["id"] for t in (await other.ok("fetch_tickets"))["tickets"]] == ids[3:6]
    assert [t["id"] for t in await every_ticket(admin, agent_id=leaver_id, status="assigned")] == held == ids[:3]

    back = await server.client(token=token)
    again = await back.ok("fetch_tickets")
    assert ([t["id"] for t in again["tickets"]], again["claimed"], again["limit_reached"]) == (held, 0, True)
    assert len((await back.ok("sell_tickets", {"ticket_ids": held, "customer": BUYER}))["tickets"]) == 3


async def test_agents_leaving_the_role_give_their_unsold_tickets_back(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Deactivated or re-roled agents can never sell: their unsold tickets go back, oldest first, to others."""
    server = await start_server(backend, pool_hold_limit=3)
    admin, [(leaver, leaver_id), (promoted, promoted_id), (renamed, renamed_id), (other, other_id)] = await staff(
        server, 4
    )
    await admin.ok("watch_pool")
    ids = await load(admin, 12)
    for agent in (leaver, promoted, renamed, other):
        await agent.ok("fetch_tickets")
    first = [t["id"] for t in await every_ticket(admin, agent_id=leaver_id)]
    second = [t["id"] for t in await every_ticket(admin, agent_id=promoted_id)]
    sold = await promoted.ok("sell_tickets", {"ticket_ids": second[:1], "customer": BUYER})
    assert [t["id"] for t in sold["tickets"]] == second[:1]

    await admin.ok("update_user", {"user_id": renamed_id, "name": "Still an agent", "active": True})
    await admin.ok("deactivate_user", {"user_id": leaver_id})
    await admin.inbox.wait_for("pool_changed", lambda m: m["counts"] == {"unassigned": 3, "assigned": 8, "sold": 1})
    await admin.ok("update_user", {"user_id": promoted_id, "role": "manager"})
    await admin.inbox.wait_for("pool_changed", lambda m: m["counts"] == {"unassigned": 5, "assigned": 6, "sold": 1})

    assert await every_ticket(admin, agent_id=leaver_id) == []
    assert [t["id"] for t in await every_ticket(admin, agent_id=promoted_id)] == second[:1]  # the sale stands
    assert len(await every_ticket(admin, agent_id=renamed_id, status="assigned")) == 3  # a rename releases nothing
    back = await every_ticket(admin, status="unassigned")
    assert sorted(t["id"] for t in back) == sorted(first + second[1:])
    assert all(t["agent_id"] is None and t["assigned_at"] is None for t in back)

    await other.ok("sell_tickets", {"ticket_ids": [t["id"] for t in await every_ticket(other)], "customer": BUYER})
    refill = await other.ok("fetch_tickets")
    assert [t["id"] for t in refill["tickets"]] == [i for i in ids if i in first + second[1:]][:3]
    assert all(t["agent_id"] == other_id for t in refill["tickets"])


async def test_create_pool_tickets_rules(server: RunningServer) -> None:
    admin, [(agent, _)] = await staff(server, 1)
    anonymous = await server.client()
    invalid = [
        {},
        {"tickets": []},
        {"tickets": [{"title": "x"}] * 1001},
        {"tickets": [{"title": "x"}], "title": "both"},
        {"title": "   "},
        {"title": "x", "priority": "critical"},
        {"title": "x", "owner": "me"},
        {"tickets": [{"details": "no title"}]},
        {"tickets": [{"title": "ok"}, {"title": 5}]},
        {"details": "no title"},
        ["x"],
    ]
    for payload in invalid:
        await admin.error("create_pool_tickets", payload, "invalid_payload")
    await agent.error("create_pool_tickets", {"title": "x"}, "forbidden")
    await anonymous.error("create_pool_tickets", {"title": "x"}, "unauthorized")
    assert await admin.ok("watch_pool") == {"counts": {"unassigned": 0, "assigned": 0, "sold": 0}, "total": 0}

    ids = await load(admin, 1000)
    assert ids == sorted(ids) and len(set(ids)) == 1000
    listed = await every_ticket(admin)
    assert [t["id"] for t in listed] == ids and listed[999]["title"] == "t999"
    assert {(t["priority"], t["details"], t["status"]) for t in listed} == {("normal", "", "unassigned")}


async def test_fetch_list_and_watch_roles(server: RunningServer) -> None:
    admin, [(agent, agent_id), (other, other_id)] = await staff(server, 2)
    manager, _ = await signed_in(server, Role.MANAGER)
    client, _ = await signed_in(server, Role.CLIENT)
    anonymous = await server.client()
    await load(admin, 4)
    await agent.ok("fetch_tickets")

    for caller, code in (
        (admin, "forbidden"),
        (manager, "forbidden"),
        (client, "forbidden"),
        (anonymous, "unauthorized"),
    ):
        await caller.error("fetch_tickets", {}, code)
    for caller, code in ((manager, "forbidden"), (client, "forbidden"), (anonymous, "unauthorized")):
        await caller.error("list_pool_tickets", {}, code)
    await agent.error("fetch_tickets", {"limit": 30}, "invalid_payload")
    too_many = await agent.error(
        "sell_tickets", {"ticket_ids": [new_id() for _ in range(16)], "customer": BUYER}, "invalid_payload"
    )
    assert too_many["details"] == [{"field": "ticket_ids", "message": "16 ids; the limit is 15"}]
    await agent.error("watch_pool", None, "forbidden")
    await anonymous.error("watch_pool", None, "unauthorized")

    await agent.error("list_pool_tickets", {"agent_id": other_id}, "forbidden")
    assert len(await every_ticket(agent, agent_id=agent_id)) == 4
    assert await every_ticket(other) == []
    for bad in ({"status": "lost"}, {"limit": 0}, {"limit": 101}, {"cursor": "not a cursor"}, {"sort": "id"}):
        await admin.error("list_pool_tickets", bad, "invalid_payload")
    assert [t["status"] for t in await every_ticket(admin)] == ["assigned"] * 4


async def test_two_processes_twenty_agents_while_admin_adds(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    """2 server processes on one SQLite file and one Redis, 20 agents fetching and selling while an admin loads."""
    report = await run_two_process_load(tmp_path / "data", LoadPlan(agents=20, seconds=6.0), redis_url)
    assert report.fetches > 100 and report.claimed > 200 and report.sales > 50, report
    assert report.unassigned_at_end > 0, report  # the pool never ran dry, so FIFO was really tested


async def test_two_processes_on_one_mongo_database(tmp_path, redis_url: str, mongo_url: str) -> None:  # type: ignore[no-untyped-def]
    """2 server processes on one MongoDB database (secantusdb) and one Redis: 3 agents (one on both), cap 3.

    secantusdb retries write conflicts with sleeps, so the race is kept to 4 agent sockets and a slow admin.
    """
    plan = LoadPlan(agents=MONGO_AGENTS, seconds=5.0, cap=MONGO_CAP, batch=30, admin_pause=0.2)  # room for a busy box
    report = await run_two_process_load(tmp_path / "data", plan, redis_url, mongo_url)
    assert report.fetches > 20 and report.claimed > 30 and report.sales > 10, report
    assert report.unassigned_at_end > 0, report


async def test_customer_without_an_account_gets_a_confirmation_email(start_server) -> None:  # type: ignore[no-untyped-def]
    from tests.notify_doubles import FAST, MailCatcher, body_of

    mail = await MailCatcher().start()
    try:
        server = await start_server("sqlite", **mail.settings(), **FAST)
        admin, [(agent, _)] = await staff(server, 1)
        await load(admin, 2, prefix="Concert <VIP>")
        held = await agent.ok("fetch_tickets")
        ids = [t["id"] for t in held["tickets"]]
        buyer = {"name": "Dana & Co", "email": "dana@example.org"}
        await agent.ok("sell_tickets", {"ticket_ids": ids, "customer": buyer})
        [message] = await mail.wait_count(1)
        assert message["To"] == "dana@example.org" and message["Subject"] == "Purchase confirmed"
        text = body_of(message)
        assert "Hello Dana & Co" in text and "2 ticket(s)" in text and "- Concert <VIP>0" in text
        html = body_of(message, "html")
        assert "Dana &amp; Co" in html and "<li>Concert &lt;VIP&gt;1</li>" in html
    finally:
        await mail.stop()


async def test_a_customer_whose_account_is_deactivated_still_gets_the_confirmation_email(start_server) -> None:  # type: ignore[no-untyped-def]
    from tests.notify_doubles import FAST, MailCatcher, body_of

    mail = await MailCatcher().start()
    try:
        server = await start_server("sqlite", **mail.settings(), **FAST)
        admin, [(agent, _)] = await staff(server, 1)
        _, info = await signed_in(server, Role.CLIENT, name="Gone Customer")
        await admin.ok("deactivate_user", {"user_id": info["user"]["id"]})
        await load(admin, 1, prefix="Season pass")
        [held] = (await agent.ok("fetch_tickets"))["tickets"]
        buyer = {"name": "Gone", "email": info["email"]}
        await agent.ok("sell_tickets", {"ticket_ids": [held["id"]], "customer": buyer})
        [message] = await mail.wait_count(1)
        assert message["To"] == info["email"] and message["Subject"] == "Purchase confirmed"
        assert "1 ticket(s)" in body_of(message) and "- Season pass0" in body_of(message)
        [queued] = await server.deps.notifier.store.list_outbox(None, 5)
        assert queued.user_id == info["user"]["id"]
    finally:
        await mail.stop()
