"""Member loads on MongoDB, within a caller's transaction.

A workspace member's ``load`` is the number of active (open, pending) helpdesk tickets assigned to
them. These helpers move loads together with the ticket writes that change that number, all with
the caller's session, so its ``MongoDatabase.transaction`` commits or aborts both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from models.tickets import ACTIVE, Handover, Ticket
from storage.mongo.claim import claim_least

MEMBERS = "workspace_members"
# A Dowell line manager is a member document with ``line_id`` set (``storage.mongo.line_managers``); one whose
# user is no staff member has role ``line_manager`` and grants nothing on the signed-in door: every staff read
# and write filters with ``STAFF``.
LINE_ONLY = "line_manager"
STAFF: dict[str, Any] = {"role": {"$ne": LINE_ONLY}}
LINE_ONLY_AGAIN: dict[str, Any] = {"$set": {"role": LINE_ONLY, "categories": [], "load": 0}}
BY_LINE_LOAD = [("ticket_count", ASCENDING), ("line_position", ASCENDING), ("line_since", ASCENDING), ("line_id", 1)]
TICKETS = "tickets"  # the unified tickets (``storage.mongo.tickets``); loads count the signed-in door only
BY_TIME = [("created_at", ASCENDING), ("_id", ASCENDING)]
Members = AsyncCollection[dict[str, Any]]
Tickets = AsyncCollection[dict[str, Any]]
_ACTIVE = sorted(s.value for s in ACTIVE)


def member_id(workspace_id: str, user_id: str) -> str:
    """Return the ``_id`` of a workspace member's document."""
    return f"{workspace_id}:{user_id}"


async def claim_member(
    members: Members, workspace_id: str, category_id: str, session: AsyncClientSession
) -> str | None:
    """Add 1 to the load of the category's least-loaded agent (ties: first added) and return their id, or None."""
    doc = await claim_least(
        members,
        {
            "workspace_id": workspace_id,
            "role": "agent",
            "$or": [{"categories": {"$size": 0}}, {"categories": category_id}],
        },
        "load",
        [("load", ASCENDING), ("created_at", ASCENDING), ("user_id", ASCENDING)],
        session=session,
    )
    return str(doc["user_id"]) if doc else None


async def add_member_load(
    members: Members, workspace_id: str, user_id: str, delta: int, session: AsyncClientSession
) -> bool:
    """Add ``delta`` to a member's load, never going below 0; return False if they are not a member."""
    key = member_id(workspace_id, user_id)
    if delta >= 0:
        result = await members.update_one({"_id": key, **STAFF}, {"$inc": {"load": delta}}, session=session)
        return bool(result.matched_count)
    for _ in range(-delta):
        await members.update_one({"_id": key, **STAFF, "load": {"$gt": 0}}, {"$inc": {"load": -1}}, session=session)
    return await members.find_one({"_id": key, **STAFF}, {"_id": 1}, session=session) is not None


def ticket_of(doc: dict[str, Any]) -> Ticket:
    """Return the ticket stored in ``doc``."""
    return Ticket.model_validate({"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}})


async def active_count(tickets: Tickets, workspace_id: str, user_id: str, session: AsyncClientSession) -> int:
    """Return how many active tickets of the workspace are assigned to the user (their true load)."""
    held = {"workspace_id": workspace_id, "door": "signed_in", "assignee_id": user_id, "status": {"$in": _ACTIVE}}
    return await tickets.count_documents(held, session=session)


async def release_member(
    db: AsyncDatabase[dict[str, Any]], workspace_id: str, user_id: str, now: datetime, session: AsyncClientSession
) -> list[Handover]:
    """Hand on the active tickets of a member just deleted; return them as changed, oldest first.

    With the workspace's ``auto_assign`` on, each goes to the least-loaded agent serving its category
    (who gets 1 more load); otherwise, or when no agent serves it, it becomes unassigned.
    """
    workspace = await db["workspaces"].find_one({"_id": workspace_id}, {"auto_assign": 1}, session=session)
    auto_assign = bool(workspace and workspace.get("auto_assign"))
    handovers = []
    for ticket in await _held(db[TICKETS], {"workspace_id": workspace_id, "assignee_id": user_id}, session):
        heir = await claim_member(db[MEMBERS], workspace_id, ticket.category_id, session) if auto_assign else None
        handovers.append(Handover(await _hand(db[TICKETS], ticket.id, heir, now, session), user_id))
    return handovers


async def release_workspace(
    tickets: Tickets, workspace_id: str, now: datetime, session: AsyncClientSession
) -> list[Handover]:
    """Unassign every assigned active ticket of a workspace whose members are gone; return them, oldest first."""
    held = await _held(tickets, {"workspace_id": workspace_id, "assignee_id": {"$ne": None}}, session)
    return [Handover(await _hand(tickets, t.id, None, now, session), str(t.assignee_id)) for t in held]


async def _held(tickets: Tickets, whose: dict[str, Any], session: AsyncClientSession) -> list[Ticket]:
    """Return the active tickets matching ``whose``, oldest first."""
    cursor = tickets.find({**whose, "door": "signed_in", "status": {"$in": _ACTIVE}}, session=session).sort(BY_TIME)
    return [ticket_of(doc) async for doc in cursor]


async def _hand(
    tickets: Tickets, ticket_id: str, heir: str | None, now: datetime, session: AsyncClientSession
) -> Ticket:
    """Give the ticket to ``heir`` (None: nobody) and return it as changed."""
    doc = await tickets.find_one_and_update(
        {"_id": ticket_id},
        {"$set": {"assignee_id": heir, "updated_at": now}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return ticket_of(doc)
