"""Dowell line managers on MongoDB: workspace member documents with a place in the line.

A line manager's user id need not be an account: then its document has role ``line_manager`` and grants nothing
on the signed-in door (``storage.mongo.member_loads.STAFF``). ``ticket_count`` is the Dowell load, not the
helpdesk ``load``. ``migrate_line_managers`` copies today's ``support_line_managers`` documents once into
``workspace_members`` (idempotent upserts, recorded in ``migrations``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict
from models.support import LineManager
from storage.mongo.claim import claim_least
from storage.mongo.db import MongoDatabase
from storage.mongo.member_loads import BY_LINE_LOAD as BY_LOAD
from storage.mongo.member_loads import LINE_ONLY, MEMBERS, Members, member_id

MIGRATION = "line-managers-one"
LINED: dict[str, Any] = {"line_id": {"$ne": None}}
BY_LINE = [("line_position", ASCENDING), ("line_since", ASCENDING), ("line_id", ASCENDING)]


def line_manager_of(doc: dict[str, Any]) -> LineManager:
    """Return the line manager a member document holds."""
    return LineManager.model_validate(
        {
            "_id": doc["line_id"],
            "workspace_id": doc["workspace_id"],
            "user_id": doc["user_id"],
            "positions_in_a_line": doc["line_position"],
            "average_serving_time": doc["serving_time"],
            "ticket_count": doc.get("ticket_count", 0),
            "created_at": doc["line_since"],
        }
    )


async def _put(members: Members, m: LineManager) -> bool:
    """Put the line fields on the user's member document (a new one with role ``line_manager`` if none); return
    False if it has line fields already."""
    line = {
        "line_id": m.id,
        "line_position": m.positions_in_a_line,
        "serving_time": m.average_serving_time,
        "ticket_count": m.ticket_count,
        "line_since": m.created_at,
    }
    new = {"workspace_id": m.workspace_id, "user_id": m.user_id, "role": LINE_ONLY, "categories": [], "load": 0}
    try:
        await members.update_one(
            {"_id": member_id(m.workspace_id, m.user_id), "line_id": None},
            {"$set": line, "$setOnInsert": {**new, "created_at": m.created_at}},
            upsert=True,
        )
    except DuplicateKeyError:  # the document exists with its line fields: the filter missed, the insert clashed
        return False
    return True


async def put_line_manager(db: MongoDatabase, manager: LineManager) -> None:
    """Store a line manager; ``Conflict`` if the workspace has one for that user already."""
    if not await _put(db.db[MEMBERS], manager):
        raise Conflict(f"User {manager.user_id} already exists")


async def migrate_line_managers(db: MongoDatabase) -> None:
    """Copy ``support_line_managers`` into the members once (their indexes are the workspace store's)."""
    members, migrations = db.db[MEMBERS], db.db["migrations"]
    if await migrations.find_one({"_id": MIGRATION}) is not None:
        return
    async for doc in db.db["support_line_managers"].find().sort([("created_at", 1), ("_id", 1)]):
        await _put(members, LineManager.model_validate(doc))  # already there (a second start): kept as it is
    await migrations.update_one({"_id": MIGRATION}, {"$setOnInsert": {"at": datetime.now(UTC)}}, upsert=True)


async def list_line_managers(members: Members, workspace_id: str) -> list[LineManager]:
    """Return the workspace's line managers, by position in the line."""
    cursor = members.find({"workspace_id": workspace_id, **LINED}).sort(BY_LINE)
    return [line_manager_of(doc) async for doc in cursor]


async def get_line_manager(members: Members, workspace_id: str, user_id: str) -> LineManager | None:
    """Return one line manager, or None."""
    doc = await members.find_one({"_id": member_id(workspace_id, user_id), **LINED})
    return line_manager_of(doc) if doc else None


async def claim_line_manager(members: Members, workspace_id: str, session: AsyncClientSession) -> str | None:
    """Add 1 to the ``ticket_count`` of the least-loaded line manager (then position, creation, id) and return its
    user id, or None if the workspace has none."""
    doc = await claim_least(members, {"workspace_id": workspace_id, **LINED}, "ticket_count", BY_LOAD, session=session)
    return str(doc["user_id"]) if doc else None


async def move_count(
    members: Members, workspace_id: str, user_id: str | None, delta: int, session: AsyncClientSession
) -> bool:
    """Add ``delta`` (±1) to a member's ``ticket_count`` (never below 0); return False if there is no such member."""
    if user_id is None:
        return False
    key: dict[str, Any] = {"_id": member_id(workspace_id, user_id)}
    if delta < 0:
        result = await members.update_one(
            {**key, "ticket_count": {"$gt": 0}}, {"$inc": {"ticket_count": delta}}, session=session
        )
        if result.matched_count:
            return True
        return await members.find_one(key, {"_id": 1}, session=session) is not None
    result = await members.update_one(key, {"$inc": {"ticket_count": delta}}, session=session)
    return bool(result.matched_count)


class MongoLineManagerStore:
    """The Dowell line managers in MongoDB (member documents with line fields; their indexes are the workspace
    store's)."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._members = db.db[MEMBERS]

    async def init(self) -> None:
        """Migrate ``support_line_managers`` into the members once."""
        await migrate_line_managers(self._db)

    async def create(self, manager: LineManager) -> LineManager:
        """Store a line manager (a member document); ``Conflict`` if the workspace has one for that user."""
        await put_line_manager(self._db, manager)
        return manager

    async def list_in_line(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""
        return await list_line_managers(self._members, workspace_id)

    async def get(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""
        return await get_line_manager(self._members, workspace_id, user_id)
