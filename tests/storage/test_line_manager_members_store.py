"""Line managers are workspace members, on both backends: one row per user and workspace, and a line manager
that is no staff member is invisible to every staff read (it grants nothing on the signed-in door)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from auth.workspace_keys import new_api_key
from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict
from models.support import LineManager, line_ticket
from models.tickets import TicketStatus
from models.workspaces import Member, WorkspaceRecord
from storage.database import Database, new_id
from storage.line_managers import LineManagerStore, make_line_manager_store
from storage.tickets import TicketStore, make_ticket_store
from storage.workspaces import WorkspaceStore, make_workspace_store

NOW = to_millis(utc_now())
WS = "ws1"


@pytest.fixture
async def stores(db: Database) -> tuple[WorkspaceStore, LineManagerStore, TicketStore]:
    workspaces, managers, support = make_workspace_store(db), make_line_manager_store(db), make_ticket_store(db)
    await workspaces.init()
    await managers.init()
    await support.init()
    _, key_hash, hint = new_api_key()
    record = WorkspaceRecord(id=WS, name="Acme", key_hash=key_hash, key_hint=hint, created_at=NOW, updated_at=NOW)
    await workspaces.create(record)
    return workspaces, managers, support


def line(user_id: str, position: int, count: int = 0, seconds: int = 0) -> LineManager:
    at = NOW + timedelta(seconds=seconds)
    return LineManager(
        id=new_id(),
        user_id=user_id,
        positions_in_a_line=position,
        average_serving_time=2.5,
        ticket_count=count,
        workspace_id=WS,
        created_at=at,
    )


def staff(user_id: str, role: str = "agent") -> Member:
    return Member(workspace_id=WS, user_id=user_id, role=role, created_at=NOW)  # type: ignore[arg-type]


async def test_a_line_manager_that_is_no_staff_member_is_no_member(
    stores: tuple[WorkspaceStore, LineManagerStore, TicketStore],
) -> None:
    workspaces, managers, _support = stores
    made = await managers.create(line("lm-x", 1, count=3))
    assert await managers.get(WS, "lm-x") == made
    assert await workspaces.get_member(WS, "lm-x") is None
    assert await workspaces.list_members(WS) == []
    assert await workspaces.memberships("lm-x") == []
    assert await workspaces.set_member_role("lm-x", "manager") == 0  # an account hook cannot promote it
    assert await workspaces.get_member(WS, "lm-x") is None
    with pytest.raises(Exception, match="not a member"):
        await workspaces.remove_member(WS, "lm-x", NOW)
    assert (await managers.get(WS, "lm-x")) == made  # and nothing was removed


async def test_a_staff_member_and_their_line_are_one_row(
    stores: tuple[WorkspaceStore, LineManagerStore, TicketStore],
) -> None:
    workspaces, managers, _support = stores
    await workspaces.put_member(staff("ana"))
    made = await managers.create(line("ana", 2, count=1))
    with pytest.raises(Conflict, match="User ana already exists"):
        await managers.create(line("ana", 5))
    assert (await workspaces.get_member(WS, "ana")).role == "agent"  # type: ignore[union-attr]
    assert await managers.list_in_line(WS) == [made]

    await workspaces.remove_member(WS, "ana", NOW)  # e.g. the account was deactivated
    assert await workspaces.get_member(WS, "ana") is None and await workspaces.memberships("ana") == []
    assert await managers.list_in_line(WS) == [made]  # the Dowell line keeps them, with their count
    back = await workspaces.put_member(staff("ana", "manager"))
    assert (back.role, back.load) == ("manager", 0)
    assert await managers.list_in_line(WS) == [made]

    await managers.create(line("lm-y", 1))  # a line manager first, then made staff
    assert (await workspaces.put_member(staff("lm-y"))).role == "agent"
    assert [m.user_id for m in await workspaces.list_members(WS)] == ["ana", "lm-y"]
    await workspaces.delete(WS, NOW)
    assert await workspaces.list_members(WS) == [] and await workspaces.memberships("ana") == []
    assert [m.user_id for m in await managers.list_in_line(WS)] == ["lm-y", "ana"]  # kept, like topics


async def test_the_least_loaded_line_manager_gets_the_ticket_staff_or_not(
    stores: tuple[WorkspaceStore, LineManagerStore, TicketStore],
) -> None:
    workspaces, managers, support = stores
    await workspaces.put_member(staff("plain"))  # staff but no line manager: never picked at the Dowell door
    await workspaces.put_member(staff("ana"))
    await managers.create(line("ana", 2, count=0, seconds=1))
    await managers.create(line("lm-x", 1, count=0, seconds=2))
    picked = [await support.open_ticket(line_ticket(new_id(), WS, f"u{i}", "p", NOW)) for i in range(3)]
    assert [t.assignee_id for t in picked if t] == ["lm-x", "ana", "lm-x"]
    assert {m.user_id: m.ticket_count for m in await managers.list_in_line(WS)} == {"lm-x": 2, "ana": 1}
    assert (await workspaces.get_member(WS, "ana")).load == 0  # type: ignore[union-attr]  # not the helpdesk load


async def test_a_reassignment_moves_the_ticket_and_its_count_together_or_not_at_all(
    stores: tuple[WorkspaceStore, LineManagerStore, TicketStore],
) -> None:
    workspaces, managers, support = stores
    await managers.create(line("lm-a", 1))
    await managers.create(line("lm-b", 2))
    await workspaces.put_member(staff("ana"))
    ticket = await support.open_ticket(line_ticket(new_id(), WS, "cust", "p", NOW))
    assert ticket is not None and ticket.assignee_id == "lm-a"

    async def counts() -> dict[str, int]:
        return {m.user_id: m.ticket_count for m in await managers.list_in_line(WS)}

    with pytest.raises(Conflict):  # no member nor line manager of that name: nothing moves
        await support.set_assignee(ticket.id, "lm-a", "ghost", NOW)
    assert (await support.get_ticket(ticket.id)).assignee_id == "lm-a"  # type: ignore[union-attr]
    assert await counts() == {"lm-a": 1, "lm-b": 0}

    both = await asyncio.gather(*(support.set_assignee(ticket.id, "lm-a", to, NOW) for to in ("lm-b", "ana")))
    winners = [t for t in both if t is not None]
    assert len(winners) == 1  # the other found the ticket no longer lm-a's
    holder = winners[0].assignee_id
    assert (await support.get_ticket(ticket.id)).assignee_id == holder  # type: ignore[union-attr]
    assert await counts() == {"lm-a": 0, "lm-b": 1 if holder == "lm-b" else 0}
    assert await support.set_assignee(ticket.id, "lm-a", "lm-b", NOW) is None  # stale expectation
    await support.set_status(ticket.id, TicketStatus.OPEN, TicketStatus.CLOSED, NOW)
    assert await support.set_assignee(ticket.id, holder, "lm-a", NOW) is None  # closed: not moved
    assert await counts() == {"lm-a": 0, "lm-b": 0}
