"""Ticket store contract at the signed-in door, on both backends."""

from __future__ import annotations

import asyncio
import gc
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict, NotFound
from models.helpdesk import Category
from models.tickets import (
    ACTIVE,
    TRANSITIONS,
    ReadMarker,
    Ticket,
    TicketMessage,
    TicketQuery,
    TicketStatus,
    signed_in_message,
    signed_in_record,
)
from models.workspaces import Member
from storage import open_database
from storage.attachments import AttachmentStore, make_attachment_store
from storage.categories import CategoryStore, make_category_store
from storage.database import Database, new_id
from storage.tickets import TicketStore, make_ticket_store
from storage.workspaces import WorkspaceStore, make_workspace_store
from tests.storage.test_ticket_store import store
from tests.test_helpdesk_load import DRIVER_SOCKET, settled_drift

__all__ = ["store"]  # fixture: the ticket store, shared with the other half of the contract

NOW = to_millis(utc_now())


@pytest.fixture
async def categories(db: Database) -> CategoryStore:
    made = make_category_store(db)
    await made.init()
    return made


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


async def test_categories_crud(store: TicketStore, categories: CategoryStore) -> None:
    billing = await categories.create(category("w1", "Billing"))
    await categories.create(category("w2", "billing"))
    with pytest.raises(Conflict):
        await categories.create(category("w1", "BILLING"))
    sales = await categories.create(category("w1", "Sales"))
    assert [c.name for c in await categories.list_by_name("w1")] == ["Billing", "Sales"]
    with pytest.raises(Conflict):
        await categories.update(sales.id, "billing", None, NOW)
    changed = await categories.update(sales.id, "Deals", "money in", NOW + timedelta(seconds=1))
    assert (changed.name, changed.description) == ("Deals", "money in")
    await store.open_ticket(ticket("w1", billing.id, "c", 0))
    with pytest.raises(Conflict):
        await categories.delete(billing.id)
    await categories.delete(sales.id)
    for call in (
        categories.get(sales.id),
        categories.delete(sales.id),
        categories.update("x", "y", None, NOW),
    ):
        with pytest.raises(NotFound):
            await call


async def test_listing_scopes_filters_and_cursor(store: TicketStore) -> None:
    made = [
        ticket("w1", "c1", "alice", 0),
        ticket("w1", "c2", "bob", 1),
        ticket("w1", "c2", "alice", 2, assignee="agent", status="pending"),
        ticket("w2", "c9", "bob", 3),
        ticket("w1", "c1", "bob", 4, status="resolved"),
    ]
    for t in made:
        await store.open_ticket(t)

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


async def test_compare_and_set_changes(loads: Loads) -> None:
    store = loads.helpdesk
    t = await store.open_ticket(ticket("w1", "c1", "alice", 0))
    later = NOW + timedelta(minutes=1)
    moved = await asyncio.gather(
        *(store.set_status(t.id, TicketStatus.OPEN, TicketStatus.PENDING, later) for _ in range(3))
    )
    assert sum(m is not None for m in moved) == 1
    assert (await store.get_ticket(t.id)).status == TicketStatus.PENDING
    assert await store.set_status(t.id, TicketStatus.OPEN, TicketStatus.CLOSED, later) is None
    claims = await asyncio.gather(*(store.set_assignee(t.id, None, user, later) for user in ("a1", "a2", "m")))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and (await store.get_ticket(t.id)).assignee_id == winners[0].assignee_id
    heir = next(u for u in ("a1", "a2") if u != winners[0].assignee_id)
    again = await store.set_assignee(t.id, winners[0].assignee_id, heir, later)
    assert again is not None and again.assignee_id == heir and again.updated_at == later
    with pytest.raises(Conflict):  # an active ticket only goes to a member of its workspace
        await store.set_assignee(t.id, heir, "stranger", later)
    assert (await store.get_ticket(t.id)).assignee_id == heir and await loads.drift() == {}
    with pytest.raises(NotFound):
        await store.get_ticket("missing")


async def test_messages_and_forward_only_read_markers(store: TicketStore) -> None:
    t = await store.open_ticket(ticket("w1", "c1", "alice", 0))
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
        await store.add_message(signed_in_record(m))
        sent.append(m)
    assert [m.body for m in await store.list_messages(t.id, 10)] == ["m0", "m1", "m2"]
    assert [m.body for m in await store.list_messages(t.id, 2)] == ["m1", "m2"]
    assert (await store.get_ticket(t.id)).updated_at == sent[-1].created_at
    assert signed_in_message(await store.get_message(t.id, sent[0].id)) == sent[0]  # type: ignore[arg-type]
    assert await store.get_message("other", sent[0].id) is None

    def mark(m: TicketMessage) -> ReadMarker:
        return ReadMarker(ticket_id=t.id, user_id="bob", message_id=m.id, message_at=m.created_at, at=NOW)

    assert (await store.set_read(mark(sent[1]))).message_id == sent[1].id
    assert (await store.set_read(mark(sent[0]))).message_id == sent[1].id
    assert (await store.set_read(mark(sent[2]))).message_id == sent[2].id
    assert [(r.user_id, r.message_id) for r in await store.list_reads(t.id)] == [("bob", sent[2].id)]


@dataclass
class Loads:
    """A helpdesk store with the member and upload stores it writes to, and a workspace of three members."""

    helpdesk: TicketStore
    members: WorkspaceStore
    uploads: AttachmentStore
    ws: str

    async def of(self) -> dict[str, int]:
        """Every member's stored load."""
        return {m.user_id: m.load for m in await self.members.list_members(self.ws)}

    async def drift(self) -> dict[str, tuple[int, int]]:
        """{member: (stored load, active tickets assigned)} for each member whose numbers differ."""
        tickets = await self.helpdesk.list_tickets(TicketQuery(workspace_ids=[self.ws]), None, 1000)
        active = Counter(t.assignee_id for t in tickets if t.assignee_id and t.status in ACTIVE)
        return {u: (load, active[u]) for u, load in (await self.of()).items() if load != active[u]}

    async def upload(self, owner: str) -> str:
        """Store the record of a fresh upload of ``owner``; return its id."""
        record = AttachmentRecord(
            id=new_id(), name="a.txt", size=1, content_type="text/plain", uploader_id=owner, created_at=NOW
        )
        await self.uploads.add(record)
        return record.id


@pytest.fixture
async def loads(settings_for, backend: str) -> AsyncIterator[Loads]:  # type: ignore[no-untyped-def]
    settings = settings_for(backend)
    database: Database = await open_database(settings)
    made = Loads(
        make_ticket_store(database), make_workspace_store(database), make_attachment_store(database, settings), "w1"
    )
    for part in (made.members, made.uploads, made.helpdesk):
        await part.init()
    for n, (user, role) in enumerate((("a1", "agent"), ("a2", "agent"), ("m", "manager"))):
        at = NOW + timedelta(seconds=n)
        await made.members.put_member(Member(workspace_id="w1", user_id=user, role=role, created_at=at))  # type: ignore[arg-type]
    yield made
    await database.close()


async def test_every_ticket_change_moves_the_load_with_it(loads: Loads) -> None:
    hd, later = loads.helpdesk, NOW + timedelta(minutes=1)
    t1, t2, t3 = [await hd.open_ticket(ticket("w1", "c", "alice", i), auto_assign=True) for i in range(3)]
    assert [t.assignee_id for t in (t1, t2, t3)] == ["a1", "a2", "a1"]
    assert (await hd.get_ticket(t3.id)).assignee_id == "a1"
    free = await hd.open_ticket(ticket("w1", "c", "alice", 3))
    await hd.open_ticket(ticket("w1", "c", "alice", 4, assignee="m"))
    await hd.open_ticket(ticket("w1", "c", "alice", 5, assignee="m", status="resolved"))
    assert await loads.of() == {"a1": 2, "a2": 1, "m": 1}

    steps = [
        (hd.set_status(t1.id, TicketStatus.OPEN, TicketStatus.PENDING, later), {"a1": 2}),
        (hd.set_status(t1.id, TicketStatus.PENDING, TicketStatus.RESOLVED, later), {"a1": 1}),
        (hd.set_status(t1.id, TicketStatus.PENDING, TicketStatus.OPEN, later), {"a1": 1}),  # stale: refused
        (hd.set_status(t1.id, TicketStatus.RESOLVED, TicketStatus.OPEN, later), {"a1": 2}),
        (hd.set_status(t3.id, TicketStatus.OPEN, TicketStatus.CLOSED, later), {"a1": 1}),
        (hd.set_assignee(t3.id, "a1", "a2", later), {"a1": 1, "a2": 1}),  # closed: the load stays put
        (hd.set_assignee(t2.id, "a2", "m", later), {"a2": 0, "m": 2}),
        (hd.set_assignee(t2.id, "a2", "a1", later), {"a1": 1, "m": 2}),  # stale: refused
        (hd.set_assignee(free.id, None, "a2", later), {"a2": 1}),
    ]
    for step, expected in steps:
        await step
        assert {u: (await loads.of())[u] for u in expected} == expected
        assert await loads.drift() == {}


async def test_concurrent_changes_keep_every_load_exact(loads: Loads, backend: str) -> None:
    hd, rng = loads.helpdesk, random.Random(7)
    width = 4 if backend == "mongo" else 16  # secantusdb: few concurrent writers
    made = await asyncio.gather(*(hd.open_ticket(ticket("w1", "c", "x", i), auto_assign=True) for i in range(width)))
    assert sorted(Counter(t.assignee_id for t in made).values()) == [width // 2, width // 2]
    changed = 0
    for _ in range(6):
        current = {t.id: t for t in await hd.list_tickets(TicketQuery(workspace_ids=["w1"]), None, 100)}
        moves = []
        for t in rng.sample(list(current.values()), width // 2):  # two racing changes per ticket
            staff = rng.sample(["a1", "a2", "m"], 2)
            if TRANSITIONS[t.status]:
                moves.append(hd.set_status(t.id, t.status, rng.choice(sorted(TRANSITIONS[t.status])), NOW))
            else:
                moves.append(hd.set_assignee(t.id, t.assignee_id, staff[0], NOW))
            moves.append(hd.set_assignee(t.id, t.assignee_id, staff[1], NOW))
        results = await asyncio.gather(*moves)
        changed += sum(r is not None for r in results)
    assert changed >= 6
    assert await loads.drift() == {}


@pytest.mark.filterwarnings(DRIVER_SOCKET)
async def test_cancelled_changes_leave_no_load_off(loads: Loads, backend: str) -> None:
    hd, rng = loads.helpdesk, random.Random(11)
    width = 4 if backend == "mongo" else 8
    ticket_ids = [(await hd.open_ticket(ticket("w1", "c", "x", i), auto_assign=True)).id for i in range(width)]
    cancelled = 0
    for round_ in range(12):
        current = await asyncio.gather(*(hd.get_ticket(i) for i in ticket_ids))
        calls = [hd.open_ticket(ticket("w1", "c", "x", 100 + round_), auto_assign=True)]
        for t in rng.sample(current, width - 1):
            if TRANSITIONS[t.status] and rng.random() < 0.5:
                calls.append(hd.set_status(t.id, t.status, rng.choice(sorted(TRANSITIONS[t.status])), NOW))
            else:
                calls.append(hd.set_assignee(t.id, t.assignee_id, rng.choice(["a1", "a2", "m"]), NOW))
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(rng.uniform(0, 0.01 if backend == "sqlite" else 0.05))
        cancelled += sum(task.cancel() for task in tasks)
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Ticket) and result.id not in ticket_ids and result.client_id == "x":
                ticket_ids.append(result.id)
    gc.collect()  # any socket the driver dropped is reported now, under this test's filter
    assert cancelled
    assert await settled_drift(loads.drift, backend) == {}
    assert (await hd.open_ticket(ticket("w1", "c", "x", 999), auto_assign=True)).assignee_id  # still usable
    assert await loads.drift() == {}


async def test_a_reference_links_an_upload_once_or_nothing_is_written(loads: Loads) -> None:
    hd = loads.helpdesk
    t = await hd.open_ticket(ticket("w1", "c", "alice", 0), auto_assign=True)
    shared = await loads.upload("alice")

    def message(*attachments: str) -> TicketMessage:
        return TicketMessage(
            id=new_id(),
            ticket_id=t.id,
            author_id="alice",
            author_role="client",
            body="see file",
            attachments=list(attachments),
            created_at=NOW,
        )

    both = await asyncio.gather(
        *(hd.add_message(signed_in_record(message(shared))) for _ in range(2)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in both) == ["Conflict", "NoneType"], both
    assert [m.attachments for m in await hd.list_messages(t.id, 10)] == [[shared]]
    assert (await loads.uploads.get(shared)).ticket_id == t.id

    fresh, others = await loads.upload("alice"), await loads.upload("bob")
    for refused in (message(fresh, shared), message(others)):
        with pytest.raises(Conflict):
            await hd.add_message(signed_in_record(refused))
    assert (await loads.uploads.get(fresh)).ticket_id is None  # rolled back with the refused message
    taken = ticket("w1", "c", "alice", 1).model_copy(update={"attachments": [fresh, shared]})
    with pytest.raises(Conflict):
        await hd.open_ticket(taken, auto_assign=True)
    with pytest.raises(NotFound):
        await hd.get_ticket(taken.id)
    assert await loads.of() == {"a1": 1, "a2": 0, "m": 0} and await loads.drift() == {}  # the claim rolled back
    assert (await loads.uploads.get(fresh)).ticket_id is None
    assert len(await hd.list_messages(t.id, 10)) == 1

    await hd.set_status(t.id, TicketStatus.OPEN, TicketStatus.CLOSED, NOW)
    with pytest.raises(Conflict):
        await hd.add_message(signed_in_record(message(fresh)))
    with pytest.raises(NotFound):
        await hd.add_message(signed_in_record(message().model_copy(update={"ticket_id": "missing"})))
    assert len(await hd.list_messages(t.id, 10)) == 1 and (await loads.uploads.get(fresh)).ticket_id is None


async def test_auto_assign_picks_the_least_loaded_agent_serving_the_category(loads: Loads, backend: str) -> None:
    hd, members = loads.helpdesk, loads.members
    staff = [("everything", "agent", []), ("billing", "agent", ["billing"]), ("sales", "agent", ["sales"])]
    for n, (user, role, categories) in enumerate([*staff, ("boss", "manager", [])]):
        at = NOW + timedelta(seconds=n)
        person = Member(workspace_id="w2", user_id=user, role=role, categories=categories, created_at=at)  # type: ignore[arg-type]
        await members.put_member(person)
    width = 4  # concurrent writers (secantusdb takes few)
    made = await asyncio.gather(
        *(hd.open_ticket(ticket("w2", "billing", "x", i), auto_assign=True) for i in range(width))
    )
    assert sorted(t.assignee_id or "" for t in made) == ["billing", "billing", "everything", "everything"]
    assert {m.user_id: m.load for m in await members.list_members("w2")} == {
        "everything": 2,
        "billing": 2,
        "sales": 0,
        "boss": 0,
    }
    assert (await hd.open_ticket(ticket("w3", "billing", "x", 9), auto_assign=True)).assignee_id is None


async def test_updating_a_member_keeps_their_load(loads: Loads) -> None:
    await loads.helpdesk.open_ticket(ticket("w1", "c", "x", 0, assignee="a1"))
    again = await loads.members.put_member(
        Member(workspace_id="w1", user_id="a1", role="manager", categories=["c"], created_at=NOW)  # type: ignore[arg-type]
    )
    assert (again.role, again.categories, again.load) == ("manager", ["c"], 1)
    assert await loads.drift() == {}


async def test_an_agent_lists_nothing_of_a_workspace_they_are_no_longer_a_member_of(store: TicketStore) -> None:
    for t in (
        ticket("w1", "c1", "alice", 0, assignee="agent", status="resolved"),
        ticket("w1", "c1", "alice", 1, assignee="agent", status="closed"),
        ticket("w1", "c1", "alice", 2, assignee="agent"),
        ticket("w2", "c9", "bob", 3, assignee="agent", status="closed"),
    ):
        await store.open_ticket(t)

    async def ids(**fields: Any) -> list[str]:
        return [t.title for t in await store.list_tickets(TicketQuery(agent_id="agent", **fields), None, 50)]

    assert await ids(agent_scopes={"w1": [], "w2": []}) == ["t3", "t2", "t1", "t0"]
    assert await ids(agent_scopes={"w2": ["c9"]}) == ["t3"]  # assigned to them in w1, but w1 is no longer theirs
    assert await ids(agent_scopes={"w2": []}, workspace_ids=["w1"]) == []
    assert await ids(agent_scopes={"w2": []}, status=TicketStatus.RESOLVED) == []
    assert await ids(agent_scopes={"w2": []}, assignee_id="agent") == ["t3"]
    assert await ids(agent_scopes={}) == []  # a member of nothing: not even what is still assigned to them
    assert await ids(agent_scopes={}, assignee_id="agent") == []
