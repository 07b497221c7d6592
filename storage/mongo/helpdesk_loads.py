"""Member loads on MongoDB, within a caller's transaction.

A workspace member's ``load`` is the number of active (open, pending) helpdesk tickets assigned to
them. These helpers move loads together with the ticket writes that change that number, all with
the caller's session, so its ``MongoDatabase.transaction`` commits or aborts both.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from storage.mongo.claim import claim_least

MEMBERS = "workspace_members"
Members = AsyncCollection[dict[str, Any]]


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
) -> None:
    """Add ``delta`` to a member's load, never going below 0 (no-op if not a member)."""
    key = member_id(workspace_id, user_id)
    if delta >= 0:
        await members.update_one({"_id": key}, {"$inc": {"load": delta}}, session=session)
        return
    for _ in range(-delta):
        await members.update_one({"_id": key, "load": {"$gt": 0}}, {"$inc": {"load": -1}}, session=session)
