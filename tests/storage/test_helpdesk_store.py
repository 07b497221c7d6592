"""Helpdesk store contract, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict, NotFound
from models.helpdesk import Category, ReadMarker, Ticket, TicketMessage, TicketQuery, TicketStatus
from storage import open_database
from storage.database import Database, new_id
from storage.helpdesk import HelpdeskStore, make_helpdesk_store

NOW = to_millis(utc_now())


@pytest.fixture
async def store(settings_for, backend: str) -> AsyncIterator[HelpdeskStore]:  # type: ignore[no-untyped-def]
    database: Database = await open_database(settings_for(backend))
    helpdesk = make_helpdesk_store(database)
    await helpdesk.init()
    await helpdesk.init()
    yield helpdesk
    await database.close()


def category(workspace_id: str, name: str) -> Category:
    return Category(id=new_id(), workspace_id=workspace_id, name=name, created_at=NOW, updated_at=NOW)


def ticket(ws: str, cat: str, client: str, offset: int, assignee: str | None = None, status: str = "open") -> Ticket:
    at = NOW + timedelta(seconds=offset)
    return Ticket(
        id=new_id(),
        workspace_id=ws,
        category_id=cat,
        client_id=client,
        title=f"t{offset}",
        body="b",
        status=TicketStatus(status),
        assignee_id=assignee,
        created_at=at,
        updated_at=at,
    )


async def test_categories_crud(store: HelpdeskStore) -> None:
    billing = await store.create_category(category("w1", "Billing"))
    await store.create_category(category("w2", "billing"))
    with pytest.raises(Conflict):
        await store.create_category(category("w1", "BILLING"))
    sales = await store.create_category(category("w1", "Sales"))
    assert [c.name for c in await store.list_categories("w1")] == ["Billing", "Sales"]
    with pytest.raises(Conflict):
        await store.update_category(sales.id, "billing", None, NOW)
    changed = await store.update_category(sales.id, "Deals", "money in", NOW + timedelta(seconds=1))
    assert (changed.name, changed.description) == ("Deals", "money in")
    await store.create_ticket(ticket("w1", billing.id, "c", 0))
    with pytest.raises(Conflict):
        await store.delete_category(billing.id)
    await store.delete_category(sales.id)
    for call in (
        store.get_category(sales.id),
        store.delete_category(sales.id),
        store.update_category("x", "y", None, NOW),
    ):
        with pytest.raises(NotFound):
            await call


async def test_listing_scopes_filters_and_cursor(store: HelpdeskStore) -> None:
    made = [
        ticket("w1", "c1", "alice", 0),
        ticket("w1", "c2", "bob", 1),
        ticket("w1", "c2", "alice", 2, assignee="agent", status="pending"),
        ticket("w2", "c9", "bob", 3),
        ticket("w1", "c1", "bob", 4, status="resolved"),
    ]
    for t in made:
        await store.create_ticket(t)

    async def ids(query: TicketQuery, limit: int = 50) -> list[str]:
        return [t.title for t in await store.list_tickets(query, None, limit)]

    assert await ids(TicketQuery()) == ["t4", "t3", "t2", "t1", "t0"]
    assert await ids(TicketQuery(client_id="alice")) == ["t2", "t0"]
    assert await ids(TicketQuery(workspace_ids=["w2"])) == ["t3"]
    assert await ids(TicketQuery(workspace_ids=[])) == []
    assert await ids(TicketQuery(agent_id="agent", agent_scopes={"w1": ["c1"]})) == ["t2", "t0"]
    assert await ids(TicketQuery(agent_id="agent", agent_scopes={"w1": []})) == ["t2", "t1", "t0"]
    assert await ids(TicketQuery(agent_id="nobody")) == []
    assert await ids(TicketQuery(status=TicketStatus.OPEN, category_id="c2")) == ["t1"]
    assert await ids(TicketQuery(assignee_id="agent")) == ["t2"]
    window = TicketQuery(created_from=NOW + timedelta(seconds=1), created_to=NOW + timedelta(seconds=3))
    assert await ids(window) == ["t2", "t1"]
    first = await store.list_tickets(TicketQuery(), None, 2)
    rest = await store.list_tickets(TicketQuery(), (first[-1].created_at, first[-1].id), 10)
    assert [t.title for t in first + rest] == ["t4", "t3", "t2", "t1", "t0"]


async def test_compare_and_set_changes(store: HelpdeskStore) -> None:
    t = await store.create_ticket(ticket("w1", "c1", "alice", 0))
    later = NOW + timedelta(minutes=1)
    moved = await asyncio.gather(
        *(store.set_status(t.id, TicketStatus.OPEN, TicketStatus.PENDING, later) for _ in range(3))
    )
    assert sum(m is not None for m in moved) == 1
    assert (await store.get_ticket(t.id)).status == TicketStatus.PENDING
    assert await store.set_status(t.id, TicketStatus.OPEN, TicketStatus.CLOSED, later) is None
    claims = await asyncio.gather(*(store.set_assignee(t.id, None, f"a{i}", later) for i in range(3)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and (await store.get_ticket(t.id)).assignee_id == winners[0].assignee_id
    again = await store.set_assignee(t.id, winners[0].assignee_id, "b", later)
    assert again is not None and again.assignee_id == "b" and again.updated_at == later
    with pytest.raises(NotFound):
        await store.get_ticket("missing")


async def test_messages_and_forward_only_read_markers(store: HelpdeskStore) -> None:
    t = await store.create_ticket(ticket("w1", "c1", "alice", 0))
    sent = []
    for i in range(3):
        m = TicketMessage(
            id=new_id(),
            ticket_id=t.id,
            author_id="alice",
            author_role="client",
            body=f"m{i}",
            created_at=NOW + timedelta(seconds=i + 1),
        )
        await store.add_message(m)
        sent.append(m)
    assert [m.body for m in await store.list_messages(t.id, 10)] == ["m0", "m1", "m2"]
    assert [m.body for m in await store.list_messages(t.id, 2)] == ["m1", "m2"]
    assert (await store.get_ticket(t.id)).updated_at == sent[-1].created_at
    assert await store.get_message(t.id, sent[0].id) == sent[0]
    assert await store.get_message("other", sent[0].id) is None

    def mark(m: TicketMessage) -> ReadMarker:
        return ReadMarker(ticket_id=t.id, user_id="bob", message_id=m.id, message_at=m.created_at, at=NOW)

    assert (await store.set_read(mark(sent[1]))).message_id == sent[1].id
    assert (await store.set_read(mark(sent[0]))).message_id == sent[1].id
    assert (await store.set_read(mark(sent[2]))).message_id == sent[2].id
    assert [(r.user_id, r.message_id) for r in await store.list_reads(t.id)] == [("bob", sent[2].id)]
