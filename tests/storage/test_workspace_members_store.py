"""Members leaving, coming back and their workspace's deletion keep every load equal to the tickets held, on
both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from auth.workspace_keys import new_api_key
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict
from models.tickets import ACTIVE, Ticket, TicketQuery, TicketStatus
from models.workspaces import Member, WorkspaceRecord
from storage import open_database
from storage.database import Database, new_id
from storage.tickets import TicketStore, make_ticket_store
from storage.workspaces import WorkspaceStore, make_workspace_store

NOW = to_millis(utc_now())
LATER = NOW + timedelta(minutes=5)
STORE_FAILED = (sqlite3.IntegrityError, DuplicateKeyError)
STAFF = (("a1", "agent", []), ("a2", "agent", []), ("biller", "agent", ["billing"]), ("boss", "manager", []))


@dataclass
class Desk:
    """A workspace with agents a1 and a2 (every category), biller (billing only) and manager boss."""

    db: Database
    workspaces: WorkspaceStore
    helpdesk: TicketStore
    ws: str

    async def ticket(self, category: str, assignee: str | None, status: str = "open", offset: int = 0) -> Ticket:
        """Store a ticket of ``category`` held by ``assignee``."""
        at = NOW + timedelta(seconds=offset)
        made = Ticket(
            id=new_id(),
            workspace_id=self.ws,
            category_id=category,
            client_id="client",
            title=f"t{offset}",
            body="b",
            status=TicketStatus(status),
            assignee_id=assignee,
            created_at=at,
            updated_at=at,
        )
        return await self.helpdesk.open_ticket(made)

    async def add(self, user: str, role: str = "agent", categories: list[str] | None = None) -> Member:
        """Add (or re-add) a member."""
        member = Member(workspace_id=self.ws, user_id=user, role=role, categories=categories or [], created_at=NOW)  # type: ignore[arg-type]
        return await self.workspaces.put_member(member)

    async def loads(self) -> dict[str, int]:
        """Every member's stored load."""
        return {m.user_id: m.load for m in await self.workspaces.list_members(self.ws)}

    async def holders(self) -> Counter[str]:
        """How many active tickets each assignee holds."""
        tickets = await self.helpdesk.list_tickets(TicketQuery(workspace_ids=[self.ws]), None, 1000)
        return Counter(t.assignee_id for t in tickets if t.assignee_id and t.status in ACTIVE)

    async def drift(self) -> dict[str, tuple[int, int]]:
        """{member: (stored load, active tickets held)} for each member whose numbers differ."""
        held = await self.holders()
        return {u: (load, held[u]) for u, load in (await self.loads()).items() if load != held[u]}


async def open_desk(settings_for, backend: str, auto_assign: bool) -> tuple[Desk, Database]:  # type: ignore[no-untyped-def]
    db = await open_database(settings_for(backend))
    desk = Desk(db, make_workspace_store(db), make_ticket_store(db), new_id())
    await desk.workspaces.init()
    await desk.helpdesk.init()
    _, key_hash, hint = new_api_key()
    record = WorkspaceRecord(
        id=desk.ws, name="ws", auto_assign=auto_assign, key_hash=key_hash, key_hint=hint, created_at=NOW, updated_at=NOW
    )
    await desk.workspaces.create(record)
    for n, (user, role, categories) in enumerate(STAFF):
        member = Member(workspace_id=desk.ws, user_id=user, role=role, categories=categories, created_at=NOW)  # type: ignore[arg-type]
        await desk.workspaces.put_member(member.model_copy(update={"created_at": NOW + timedelta(seconds=n)}))
    return desk, db


@pytest.fixture
async def desk(settings_for, backend: str) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    made, db = await open_desk(settings_for, backend, auto_assign=True)
    yield made
    await db.close()


@pytest.fixture
async def manual_desk(settings_for, backend: str) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    made, db = await open_desk(settings_for, backend, auto_assign=False)
    yield made
    await db.close()


async def test_a_removed_members_active_tickets_go_to_the_least_loaded_agent(desk: Desk) -> None:
    await desk.ticket("tech", "a2", offset=0)  # a2 already holds one
    tech = await desk.ticket("tech", "a1", offset=1)
    billing = await desk.ticket("billing", "a1", "pending", offset=2)
    resolved = await desk.ticket("tech", "a1", "resolved", offset=3)
    closed = await desk.ticket("tech", "a1", "closed", offset=4)
    assert await desk.loads() == {"a1": 2, "a2": 1, "biller": 0, "boss": 0}

    handed = await desk.workspaces.remove_member(desk.ws, "a1", LATER)
    assert [(h.ticket.id, h.ticket.assignee_id, h.previous) for h in handed] == [
        (tech.id, "a2", "a1"),  # biller does not serve tech; the manager is never auto-assigned
        (billing.id, "biller", "a1"),  # a2 now holds 2, biller 0
    ]
    assert all(h.ticket.updated_at == LATER and h.ticket.status in ACTIVE for h in handed)
    assert await desk.loads() == {"a2": 2, "biller": 1, "boss": 0} and await desk.drift() == {}
    for kept in (resolved, closed):  # not active: their record keeps who held them
        assert (await desk.helpdesk.get_ticket(kept.id)).assignee_id == "a1"

    reopened = await desk.helpdesk.set_status(closed.id, TicketStatus.CLOSED, TicketStatus.OPEN, LATER)
    assert reopened is not None and reopened.assignee_id is None  # a1 has left: the reopened ticket is nobody's
    assert (await desk.helpdesk.get_ticket(closed.id)).assignee_id is None
    assert await desk.loads() == {"a2": 2, "biller": 1, "boss": 0} and await desk.drift() == {}

    assert (await desk.add("a1")).load == 0  # back with nothing active
    await desk.helpdesk.set_status(resolved.id, TicketStatus.RESOLVED, TicketStatus.OPEN, LATER)
    assert (await desk.loads())["a1"] == 1 and await desk.drift() == {}


async def test_without_auto_assign_a_removed_members_active_tickets_become_unassigned(manual_desk: Desk) -> None:
    desk = manual_desk
    tech = await desk.ticket("tech", "a1", offset=0)
    pending = await desk.ticket("billing", "a1", "pending", offset=1)
    other = await desk.ticket("tech", "a2", offset=2)
    handed = await desk.workspaces.remove_member(desk.ws, "a1", LATER)
    assert [(h.ticket.id, h.ticket.assignee_id, h.previous) for h in handed] == [
        (tech.id, None, "a1"),
        (pending.id, None, "a1"),
    ]
    assert (await desk.helpdesk.get_ticket(other.id)).assignee_id == "a2"
    assert await desk.loads() == {"a2": 1, "biller": 0, "boss": 0} and await desk.drift() == {}


async def test_re_adding_a_member_counts_the_active_tickets_they_hold(manual_desk: Desk) -> None:
    desk = manual_desk
    resolved = [await desk.ticket("tech", "a1", "resolved", offset=n) for n in range(2)]
    await desk.workspaces.remove_member(desk.ws, "a1", LATER)
    for t in resolved:  # reopened while a1 is away: nobody's now, so nobody's load
        reopened = await desk.helpdesk.set_status(t.id, TicketStatus.RESOLVED, TicketStatus.OPEN, LATER)
        assert reopened is not None and reopened.assignee_id is None
    await desk.ticket("tech", "a1", offset=5)  # an active ticket held by a non-member (data from before the rule)
    assert (await desk.holders())["a1"] == 1
    assert (await desk.add("a1")).load == 1
    updated = await desk.add("a1", "manager", ["tech"])  # an update keeps the load
    assert (updated.role, updated.load) == ("manager", 1) and await desk.drift() == {}


async def test_a_ticket_cannot_be_handed_to_someone_who_left(desk: Desk) -> None:
    t = await desk.ticket("tech", "a2")
    await desk.workspaces.remove_member(desk.ws, "biller", LATER)
    with pytest.raises(Conflict):
        await desk.helpdesk.set_assignee(t.id, "a2", "biller", LATER)
    assert (await desk.helpdesk.get_ticket(t.id)).assignee_id == "a2" and await desk.drift() == {}


async def test_a_removal_racing_a_reassignment_to_that_member_leaves_no_ticket_with_them(desk: Desk) -> None:
    tickets = [await desk.ticket("tech", "a2", offset=n) for n in range(3)]
    for t in tickets:
        outcome = await asyncio.gather(
            desk.workspaces.remove_member(desk.ws, "a1", LATER),
            desk.helpdesk.set_assignee(t.id, "a2", "a1", LATER),
            return_exceptions=True,
        )
        assert not any(isinstance(o, Exception) and not isinstance(o, Conflict) for o in outcome), outcome
        assert (await desk.holders())["a1"] == 0  # either refused, or handed on by the removal
        assert await desk.drift() == {}
        await desk.add("a1")


async def test_deleting_a_workspace_unassigns_its_active_tickets(desk: Desk) -> None:
    held = await desk.ticket("tech", "a1", offset=0)
    pending = await desk.ticket("billing", "biller", "pending", offset=1)
    free = await desk.ticket("tech", None, offset=2)
    resolved = await desk.ticket("tech", "a2", "resolved", offset=3)
    handed = await desk.workspaces.delete(desk.ws, LATER)
    assert [(h.ticket.id, h.ticket.assignee_id, h.previous) for h in handed] == [
        (held.id, None, "a1"),
        (pending.id, None, "biller"),
    ]
    assert await desk.workspaces.find(desk.ws) is None and await desk.loads() == {}
    assert (await desk.helpdesk.get_ticket(free.id)).updated_at == free.updated_at  # untouched
    assert (await desk.helpdesk.get_ticket(resolved.id)).assignee_id == "a2"


async def plant_one_change_per_instant(db: Database) -> None:
    """Add a unique index on (workspace, updated_at) of helpdesk tickets: the second ticket a deletion
    unassigns (at the same instant as the first) fails exactly at its write."""
    if db.kind == "mongo":
        tickets = db.db["tickets"]  # type: ignore[attr-defined]
        await tickets.create_index([("workspace_id", 1), ("updated_at", 1)], unique=True, name="planted")
    else:
        async with db.transaction() as conn:  # type: ignore[attr-defined]
            await conn.execute("CREATE UNIQUE INDEX planted ON tickets (workspace_id, updated_at)")


async def test_a_deletion_failing_half_way_leaves_the_workspace_whole(desk: Desk) -> None:
    held = [await desk.ticket("tech", user, offset=n) for n, user in enumerate(("a1", "a2"))]
    before = (await desk.workspaces.get(desk.ws), await desk.workspaces.list_members(desk.ws))
    await plant_one_change_per_instant(desk.db)  # written beneath the store: no other honest way to fail it there
    with pytest.raises(STORE_FAILED):
        await desk.workspaces.delete(desk.ws, LATER)
    assert (await desk.workspaces.get(desk.ws), await desk.workspaces.list_members(desk.ws)) == before
    assert [(await desk.helpdesk.get_ticket(t.id)).assignee_id for t in held] == ["a1", "a2"]
    assert await desk.drift() == {}
