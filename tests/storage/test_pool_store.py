"""Pool store contract, on both backends, through two independent connections to one database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from models.errors import Conflict, DesklineError, Forbidden, NotFound
from models.pool import Customer, NewPoolTicket, PoolStatus, PoolTicket
from storage import open_database
from storage.database import Database, new_id
from storage.pool import PoolStore, make_pool_store
from tests.helpers import ManualClock

BUYER = Customer(name="Ada Buyer", email="ada@example.com")


@pytest.fixture
async def handles(settings_for, backend: str) -> AsyncIterator[list[Database]]:  # type: ignore[no-untyped-def]
    """Two separate connections (clients) to one fresh database, as two server processes have."""
    settings = settings_for(backend)
    dbs = [await open_database(settings), await open_database(settings)]
    yield dbs
    for db in dbs:
        await db.close()


@pytest.fixture
async def stores(handles: list[Database]) -> list[PoolStore]:
    """A pool store on each connection."""
    made = [make_pool_store(db) for db in handles]
    for store in made:
        await store.init()
    return made


def near(stamp: datetime | None, expected: datetime) -> bool:
    """Whether a stored time is ``expected`` (MongoDB keeps milliseconds only)."""
    return stamp is not None and abs(stamp - expected) < timedelta(milliseconds=1)


def bought(ticket: PoolTicket, customer: Customer) -> bool:
    """Whether ``ticket`` is recorded as sold to ``customer``."""
    return ticket.customer is not None and ticket.customer.model_dump() == customer.model_dump()


def batch(n: int, prefix: str = "t") -> list[NewPoolTicket]:
    """Return ``n`` new tickets titled ``<prefix>0..``."""
    return [NewPoolTicket(title=f"{prefix}{i}") for i in range(n)]


async def test_add_returns_ids_in_creation_order_and_counts(stores: list[PoolStore], clock: ManualClock) -> None:
    store = stores[0]
    first = (await store.add_tickets(batch(5, "a"), clock)).ids
    clock.advance(seconds=1)
    loaded = await store.add_tickets(batch(3, "b"), clock)
    second = loaded.ids
    assert (loaded.counts.unassigned, loaded.counts.total) == (8, 8)
    assert first == sorted(first) and second == sorted(second) and len(set(first + second)) == 8
    listed = await stores[1].list_tickets(None, None, None, 100)
    assert [t.id for t in listed] == first + second
    assert [t.title for t in listed] == ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2"]
    assert all(t.status == PoolStatus.UNASSIGNED and t.agent_id is None for t in listed)
    counts = await stores[1].counts()
    assert (counts.unassigned, counts.assigned, counts.sold, counts.total) == (8, 0, 0, 8)


async def test_claims_oldest_first_up_to_the_limit(stores: list[PoolStore], clock: ManualClock) -> None:
    store = stores[0]
    clock.advance(seconds=10)
    newer = (await store.add_tickets(batch(4, "new"), clock)).ids
    clock.now -= timedelta(seconds=5)  # an older ticket loaded later still goes first (created order)
    older = (await store.add_tickets(batch(2, "old"), clock)).ids

    claim = await store.claim_unassigned("agent-1", 3, clock)
    assert claim.claimed == 3 and claim.held_before == 0
    assert claim.counts is not None and (claim.counts.unassigned, claim.counts.assigned) == (3, 3)
    assert [t.id for t in claim.tickets] == [*older, newer[0]]
    assert all(t.agent_id == "agent-1" and t.status == PoolStatus.ASSIGNED for t in claim.tickets)

    again = await stores[1].claim_unassigned("agent-1", 3, clock)
    assert (again.claimed, again.held_before) == (0, 3)
    assert (again.counts.unassigned, again.counts.assigned) == (3, 3)  # counted even when nothing was claimed
    assert [t.id for t in again.tickets] == [t.id for t in claim.tickets]

    other = await stores[1].claim_unassigned("agent-2", 5, clock)
    assert [t.id for t in other.tickets] == newer[1:] and other.claimed == 3
    counts = await store.counts()
    assert (counts.unassigned, counts.assigned) == (0, 6)


async def test_concurrent_claims_from_two_connections_never_share(stores: list[PoolStore], clock: ManualClock) -> None:
    ids = (await stores[0].add_tickets(batch(20), clock)).ids
    claims = await asyncio.gather(*(stores[i % 2].claim_unassigned(f"agent-{i}", 3, clock) for i in range(5)))
    taken = [t.id for c in claims for t in c.tickets]
    assert [len(c.tickets) for c in claims] == [3] * 5
    assert len(taken) == len(set(taken)) == 15
    assert sorted(taken) == ids[:15]
    assert (await stores[1].counts()).unassigned == 5


async def test_one_agent_fetching_everywhere_at_once_stays_capped(stores: list[PoolStore], clock: ManualClock) -> None:
    await stores[0].add_tickets(batch(20), clock)
    claims = await asyncio.gather(*(stores[i % 2].claim_unassigned("greedy", 4, clock) for i in range(4)))
    assert sum(c.claimed for c in claims) == 4
    held = await stores[0].list_tickets(PoolStatus.ASSIGNED, "greedy", None, 100)
    assert len(held) == 4
    counts = await stores[1].counts()
    assert (counts.unassigned, counts.assigned) == (16, 4)


async def test_sold_tickets_free_room_for_new_claims(stores: list[PoolStore], clock: ManualClock) -> None:
    ids = (await stores[0].add_tickets(batch(6), clock)).ids
    await stores[0].claim_unassigned("agent-1", 3, clock)
    clock.advance(seconds=1)
    sale = await stores[1].sell("agent-1", ids[:2], BUYER, clock)
    sold = sale.tickets
    assert (sale.counts.unassigned, sale.counts.assigned, sale.counts.sold) == (3, 1, 2)
    assert [t.id for t in sold] == ids[:2]
    assert all(t.status == PoolStatus.SOLD and bought(t, BUYER) and near(t.sold_at, clock()) for t in sold)
    claim = await stores[0].claim_unassigned("agent-1", 3, clock)
    assert claim.claimed == 2 and [t.id for t in claim.tickets] == ids[2:5]
    counts = await stores[1].counts()
    assert (counts.unassigned, counts.assigned, counts.sold) == (1, 3, 2)


async def test_sale_is_all_or_nothing_and_names_each_failure(stores: list[PoolStore], clock: ManualClock) -> None:
    ids = (await stores[0].add_tickets(batch(8), clock)).ids
    mine = (await stores[0].claim_unassigned("me", 3, clock)).tickets
    theirs = (await stores[0].claim_unassigned("them", 3, clock)).tickets
    await stores[0].sell("me", [mine[0].id], BUYER, clock)
    unknown, unassigned = new_id(), ids[-1]
    before = await stores[0].list_tickets(None, None, None, 100)

    cases: list[tuple[list[str], type[DesklineError], dict[str, str]]] = [
        ([mine[1].id, unknown], NotFound, {unknown: "not_found"}),
        ([mine[1].id, theirs[0].id], Forbidden, {theirs[0].id: "not_yours"}),
        ([mine[2].id, unassigned], Forbidden, {unassigned: "not_yours"}),
        ([mine[1].id, mine[0].id], Conflict, {mine[0].id: "already_sold"}),
        (
            [theirs[1].id, mine[0].id, unknown],
            NotFound,
            {theirs[1].id: "not_yours", mine[0].id: "already_sold", unknown: "not_found"},
        ),
    ]
    for requested, error, reasons in cases:
        with pytest.raises(error) as caught:
            await stores[1].sell("me", requested, BUYER, clock)
        failed = {f["ticket_id"]: f["reason"] for f in caught.value.details["failed"]}
        assert failed == reasons, requested
    assert await stores[0].list_tickets(None, None, None, 100) == before
    counts = await stores[1].counts()
    assert (counts.unassigned, counts.assigned, counts.sold) == (2, 5, 1)


async def test_racing_sales_of_the_same_tickets_sell_once(stores: list[PoolStore], clock: ManualClock) -> None:
    await stores[0].add_tickets(batch(4), clock)
    held = [t.id for t in (await stores[0].claim_unassigned("me", 4, clock)).tickets]
    buyers = [Customer(name=f"Buyer {i}", email=f"b{i}@example.com") for i in range(2)]
    results = await asyncio.gather(
        *(stores[i].sell("me", held, buyers[i], clock) for i in range(2)), return_exceptions=True
    )
    winners = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    loser = results[1 - winners[0]]
    assert isinstance(loser, Conflict)
    assert {f["reason"] for f in loser.details["failed"]} == {"already_sold"}
    sold = await stores[0].list_tickets(PoolStatus.SOLD, "me", None, 100)
    assert [t.id for t in sold] == held and all(bought(t, buyers[winners[0]]) for t in sold)
    assert (await stores[1].counts()).sold == 4


async def test_list_filters_and_pages_in_creation_order(stores: list[PoolStore], clock: ManualClock) -> None:
    ids = (await stores[0].add_tickets(batch(7), clock)).ids
    clock.advance(seconds=1)
    ids += (await stores[0].add_tickets(batch(3, "late"), clock)).ids
    await stores[0].claim_unassigned("a", 2, clock)
    await stores[0].claim_unassigned("b", 3, clock)
    await stores[0].sell("b", [ids[2]], BUYER, clock)

    pages, after = [], None
    while True:
        page = await stores[1].list_tickets(None, None, after, 4)
        if not page:
            break
        pages.append([t.id for t in page])
        after = (page[-1].created_at, page[-1].id)
    assert pages == [ids[0:4], ids[4:8], ids[8:10]]

    assert [t.id for t in await stores[1].list_tickets(PoolStatus.UNASSIGNED, None, None, 100)] == ids[5:]
    assert [t.id for t in await stores[1].list_tickets(None, "b", None, 100)] == ids[2:5]
    assert [t.id for t in await stores[1].list_tickets(PoolStatus.ASSIGNED, "b", None, 100)] == ids[3:5]
    assert [t.id for t in await stores[1].list_tickets(PoolStatus.SOLD, None, None, 100)] == [ids[2]]
    assert Counter(t.status for t in await stores[1].list_tickets(None, None, None, 100)) == {
        PoolStatus.UNASSIGNED: 5,
        PoolStatus.ASSIGNED: 4,
        PoolStatus.SOLD: 1,
    }
