"""Ticket activity on both backends, from tickets and messages written at fixed times: exact counts, medians, p90."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.tickets import Ticket, TicketMessage, TicketStatus, signed_in_record
from storage.database import Database, new_id
from storage.helpdesk_stats import HelpdeskStatsStore, make_helpdesk_stats_store, workspace_activity
from storage.tickets import TicketStore, make_ticket_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)


async def ticket(store: TicketStore, workspace: str, assignee: str | None, at: datetime) -> str:
    made = Ticket(
        id=new_id(), workspace_id=workspace, client_id="client-1", title="t", body="b", assignee_id=assignee,
        created_at=at, updated_at=at,
    )  # fmt: skip
    opened = await store.open_ticket(made)
    assert opened is not None
    return opened.id


async def say(store: TicketStore, ticket_id: str, role: str, at: datetime) -> None:
    message = TicketMessage(
        id=new_id(), ticket_id=ticket_id, author_id=f"{role}-1", author_role=role, body="hi", created_at=at
    )
    await store.add_message(signed_in_record(message))


async def move(
    store: TicketStore, stats: HelpdeskStatsStore, ticket_id: str, status: TicketStatus, at: datetime
) -> None:
    """Change the status as the helpdesk does, and record it as its change hook does."""
    changed = await store.set_status(ticket_id, TicketStatus.OPEN, status, at)
    assert changed is not None and changed.status == status
    if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        await stats.record_done(ticket_id, changed.workspace_id, status.value, at)


async def test_counts_medians_and_p90_overall_and_per_agent(db: Database) -> None:
    tickets = make_ticket_store(db)
    await tickets.init()
    stats_store = make_helpdesk_stats_store(db)
    await stats_store.init()
    ws = "ws-stats"
    t1 = await ticket(tickets, ws, "agent-a", T0)  # answered in 10 min, resolved after 2 h
    await say(tickets, t1, "agent", T0 + 10 * M)
    await move(tickets, stats_store, t1, TicketStatus.RESOLVED, T0 + 2 * H)
    await say(tickets, t1, "client", T0 + 9 * H)  # "thanks!": moves updated_at, not the resolution
    t2 = await ticket(tickets, ws, "agent-a", T0 + H)  # the client writes first; answered in 30 min; closed after 4 h
    await say(tickets, t2, "client", T0 + H + 5 * M)
    await say(tickets, t2, "agent", T0 + H + 30 * M)
    await say(tickets, t2, "manager", T0 + H + 40 * M)
    await move(tickets, stats_store, t2, TicketStatus.CLOSED, T0 + 5 * H)
    t3 = await ticket(tickets, ws, "agent-b", T0 + 2 * H)  # a manager answers in 20 min; still open
    await say(tickets, t3, "manager", T0 + 2 * H + 20 * M)
    t4 = await ticket(tickets, ws, "agent-b", T0 + 3 * H)  # never answered by staff; pending
    await say(tickets, t4, "visitor", T0 + 3 * H + M)
    await move(tickets, stats_store, t4, TicketStatus.PENDING, T0 + 4 * H)
    await ticket(tickets, ws, None, T0 + 4 * H)  # unassigned, open
    t6 = await ticket(tickets, ws, "agent-a", T0 - 24 * H)  # opened before the range, resolved in it after 30 h
    await say(tickets, t6, "agent", T0 - 23 * H)
    await move(tickets, stats_store, t6, TicketStatus.RESOLVED, T0 + 6 * H)
    await ticket(tickets, ws, "agent-a", T0 + 48 * H)  # after the range: only in the backlog
    await ticket(tickets, "another-ws", "agent-a", T0 + H)  # another workspace: nowhere

    stats = await workspace_activity(stats_store, ws, T0, T0 + 24 * H)
    data = stats.model_dump(mode="json")
    assert (data["workspace_id"], data["from"], data["to"]) == (
        ws,
        int(T0.timestamp() * 1000),
        int((T0 + 24 * H).timestamp() * 1000),
    )
    assert (data["opened"], data["resolved"], data["closed"]) == (5, 2, 1)
    assert data["backlog"] == {"open": 3, "pending": 1, "resolved": 2}
    assert data["first_response"] == {"count": 3, "median_ms": 20 * 60_000, "p90_ms": 30 * 60_000}
    assert data["resolution"] == {"count": 3, "median_ms": 4 * 3_600_000, "p90_ms": 30 * 3_600_000}
    agents = {a["agent_id"]: a for a in data["agents"]}
    assert [a["agent_id"] for a in data["agents"]] == ["agent-a", "agent-b", None]
    a, b, nobody = agents["agent-a"], agents["agent-b"], agents[None]
    assert (a["opened"], a["resolved"], a["closed"], a["backlog"]) == (2, 2, 1, {"open": 1, "resolved": 2})
    assert a["first_response"] == {"count": 2, "median_ms": 10 * 60_000, "p90_ms": 30 * 60_000}
    assert a["resolution"] == {"count": 3, "median_ms": 4 * 3_600_000, "p90_ms": 30 * 3_600_000}
    assert (b["opened"], b["resolved"], b["closed"], b["backlog"]) == (2, 0, 0, {"open": 1, "pending": 1})
    assert b["first_response"] == {"count": 1, "median_ms": 20 * 60_000, "p90_ms": 20 * 60_000}
    assert b["resolution"] == {"count": 0, "median_ms": None, "p90_ms": None}
    assert (nobody["opened"], nobody["backlog"], nobody["first_response"]["count"]) == (1, {"open": 1}, 0)

    empty = await workspace_activity(stats_store, "nothing-here", T0, T0 + H)
    assert (empty.opened, empty.backlog, empty.agents, empty.first_response.median_ms) == (0, {}, [], None)


async def test_without_a_record_a_done_ticket_counts_from_its_updated_at(db: Database) -> None:
    tickets = make_ticket_store(db)
    await tickets.init()
    stats_store = make_helpdesk_stats_store(db)
    await stats_store.init()
    ws = "ws-fallback"
    early = await ticket(tickets, ws, "agent-a", T0)
    assert await tickets.set_status(early, TicketStatus.OPEN, TicketStatus.CLOSED, T0 + H) is not None  # no record
    late = await ticket(tickets, ws, "agent-a", T0)
    await move(tickets, stats_store, late, TicketStatus.RESOLVED, T0 + 2 * H)
    await stats_store.forget_done(late)  # reopened, say, then resolved again by an instance that died first
    await say(tickets, late, "client", T0 + 3 * H)
    stats = await workspace_activity(stats_store, ws, T0, T0 + 24 * H)
    assert (stats.opened, stats.resolved, stats.closed) == (2, 1, 1)
    assert stats.resolution.model_dump() == {"count": 2, "median_ms": 3_600_000, "p90_ms": 3 * 3_600_000}
    assert (await workspace_activity(stats_store, ws, T0 + 4 * H, T0 + 24 * H)).resolved == 0


async def test_list_done_returns_a_workspaces_records_as_stored(db: Database) -> None:
    stats_store = make_helpdesk_stats_store(db)
    await stats_store.init()
    await stats_store.record_done("t-b", "ws-list", "resolved", T0)
    await stats_store.record_done("t-a", "ws-list", "resolved", T0 + H)
    await stats_store.record_done("t-a", "ws-list", "closed", T0 + 2 * H)  # a record per ticket: the latest
    await stats_store.record_done("t-other", "ws-elsewhere", "closed", T0)
    await stats_store.record_done("t-gone", "ws-list", "closed", T0)
    await stats_store.forget_done("t-gone")
    done = await stats_store.list_done("ws-list")
    assert [(d.ticket_id, d.workspace_id, d.status, d.at) for d in done] == [
        ("t-a", "ws-list", "closed", T0 + 2 * H),
        ("t-b", "ws-list", "resolved", T0),
    ]
    assert await stats_store.list_done("ws-none") == []
