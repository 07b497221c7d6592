"""Workspaces and their members on MongoDB.

Adding, removing or deleting members also writes the helpdesk tickets they hold (see
``storage.mongo.member_loads``) in the same multi-document transaction, so each member's
``load`` stays the number of active tickets assigned to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from models.errors import NotFound
from models.tickets import Handover
from models.widget import new_widget_token
from models.workspaces import Member, Workspace, WorkspaceRecord
from storage.mongo.db import MongoDatabase
from storage.mongo.member_loads import (
    BY_LINE_LOAD,
    LINE_ONLY,
    LINE_ONLY_AGAIN,
    MEMBERS,
    STAFF,
    TICKETS,
    active_count,
    member_id,
    release_member,
    release_workspace,
)


def _record(doc: dict[str, Any]) -> WorkspaceRecord:
    return WorkspaceRecord(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


def _public(doc: dict[str, Any]) -> Workspace:
    return Workspace.model_validate({**doc, "id": doc["_id"]})


def _member(doc: dict[str, Any]) -> Member:
    return Member.model_validate(doc)


class MongoWorkspaceStore:
    """Workspaces in MongoDB; member changes and the tickets they move commit in one transaction."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._workspaces = db.db["workspaces"]
        self._members = db.db[MEMBERS]
        self._tickets = db.db[TICKETS]

    async def init(self) -> None:
        """Create the workspace indexes if missing."""
        await self._workspaces.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._members.create_index([("workspace_id", ASCENDING), ("user_id", ASCENDING)], unique=True)
        await self._members.create_index("user_id")
        lined = {"line_id": {"$type": "string"}}  # the Dowell line (``storage.mongo.line_managers``)
        await self._members.create_index([("workspace_id", ASCENDING), *BY_LINE_LOAD], partialFilterExpression=lined)
        await self._workspaces.create_index(
            "widget_token", unique=True, partialFilterExpression={"widget_token": {"$type": "string"}}
        )
        async for doc in self._workspaces.find({"widget_token": None}, {"_id": 1}):
            await self.set_widget_token(doc["_id"], new_widget_token(), None)  # a workspace made before widget tokens

    async def create(self, record: WorkspaceRecord) -> Workspace:
        """Store a new workspace."""
        doc = record.model_dump()
        doc["_id"] = doc.pop("id")
        await self._workspaces.insert_one(doc)
        return _public(doc)

    async def find(self, workspace_id: str) -> WorkspaceRecord | None:
        """Return one workspace with its key hash, or None."""
        doc = await self._workspaces.find_one({"_id": workspace_id})
        return _record(doc) if doc else None

    async def get(self, workspace_id: str) -> Workspace:
        """Return one workspace; ``NotFound`` if unknown."""
        doc = await self._workspaces.find_one({"_id": workspace_id})
        if doc is None:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return _public(doc)

    async def list(self, after: tuple[datetime, str] | None, limit: int) -> list[Workspace]:
        """Return up to ``limit`` workspaces in creation order, after a cursor position."""
        query: dict[str, Any] = {}
        if after is not None:
            stamp, last_id = after
            query["$or"] = [{"created_at": {"$gt": stamp}}, {"created_at": stamp, "_id": {"$gt": last_id}}]
        cursor = self._workspaces.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_public(doc) async for doc in cursor]

    async def _set(self, workspace_id: str, changes: dict[str, Any]) -> Workspace:
        doc = await self._workspaces.find_one_and_update(
            {"_id": workspace_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return _public(doc)

    async def update(
        self, workspace_id: str, name: str | None, products: list[str] | None, auto_assign: bool | None, now: datetime
    ) -> Workspace:
        """Change the given fields; ``NotFound`` if unknown."""
        changes = {"name": name, "products": products, "auto_assign": auto_assign}
        return await self._set(workspace_id, {**{k: v for k, v in changes.items() if v is not None}, "updated_at": now})

    async def set_key(self, workspace_id: str, key_hash: str, key_hint: str, now: datetime) -> Workspace:
        """Replace the workspace's API key hash; ``NotFound`` if unknown."""
        return await self._set(workspace_id, {"key_hash": key_hash, "key_hint": key_hint, "updated_at": now})

    async def find_by_widget_token(self, widget_token: str) -> WorkspaceRecord | None:
        """Return the workspace whose current widget token this is, or None."""
        doc = await self._workspaces.find_one({"widget_token": widget_token})
        return _record(doc) if doc else None

    async def set_widget_token(self, workspace_id: str, widget_token: str, now: datetime | None) -> WorkspaceRecord:
        """Replace the widget token (``now`` None: only give one to a workspace that has none); ``NotFound``."""
        if now is None:
            query = {"_id": workspace_id, "widget_token": None}
            await self._workspaces.update_one(query, {"$set": {"widget_token": widget_token}})
        else:
            await self._workspaces.update_one(
                {"_id": workspace_id}, {"$set": {"widget_token": widget_token, "updated_at": now}}
            )
        return await self._found(workspace_id)

    async def set_widget_origins(self, workspace_id: str, origins: list[str], now: datetime) -> WorkspaceRecord:
        """Replace the allowed widget origins; ``NotFound`` if unknown."""
        await self._set(workspace_id, {"widget_origins": origins, "updated_at": now})
        return await self._found(workspace_id)

    async def set_widget_appearance(
        self, workspace_id: str, color: str | None, title: str | None, now: datetime
    ) -> WorkspaceRecord:
        """Replace the widget's colour and title (None: the default); ``NotFound`` if unknown."""
        await self._set(workspace_id, {"widget_color": color, "widget_title": title, "updated_at": now})
        return await self._found(workspace_id)

    async def set_identity_secret(self, workspace_id: str, secret: str, now: datetime) -> WorkspaceRecord:
        """Replace the identity-verification secret; ``NotFound`` if unknown."""
        await self._set(workspace_id, {"identity_secret": secret, "updated_at": now})
        return await self._found(workspace_id)

    async def _found(self, workspace_id: str) -> WorkspaceRecord:
        record = await self.find(workspace_id)
        if record is None:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return record

    async def delete(self, workspace_id: str, now: datetime) -> list[Handover]:
        """Delete a workspace and its members, and unassign their active tickets, in one transaction.

        Returns the tickets unassigned; ``NotFound`` (nothing written) if the workspace is unknown.
        """

        async def attempt(session: AsyncClientSession) -> list[Handover]:
            result = await self._workspaces.delete_one({"_id": workspace_id}, session=session)
            if not result.deleted_count:
                raise NotFound("no such workspace", {"workspace_id": workspace_id})
            await self._members.delete_many({"workspace_id": workspace_id, "line_id": None}, session=session)
            await self._members.update_many({"workspace_id": workspace_id}, LINE_ONLY_AGAIN, session=session)
            return await release_workspace(self._tickets, workspace_id, now, session)

        return await self._db.transaction(attempt)

    async def put_member(self, member: Member) -> Member:
        """Add a member with its load counted from the tickets it holds, or update its role and categories."""
        m = member

        async def attempt(session: AsyncClientSession) -> dict[str, Any]:
            load = await active_count(self._tickets, m.workspace_id, m.user_id, session)
            key = member_id(m.workspace_id, m.user_id)
            joins = {"load": load, "created_at": m.created_at}  # a line manager (no staff row yet) becomes staff
            await self._members.update_one({"_id": key, "role": LINE_ONLY}, {"$set": joins}, session=session)
            doc = await self._members.find_one_and_update(
                {"_id": key},
                {
                    "$set": {"role": m.role, "categories": m.categories},
                    "$setOnInsert": {
                        "workspace_id": m.workspace_id,
                        "user_id": m.user_id,
                        "load": load,
                        "created_at": m.created_at,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            return dict(doc)

        return _member(await self._db.transaction(attempt))

    async def remove_member(self, workspace_id: str, user_id: str, now: datetime) -> list[Handover]:
        """Remove a member and hand on their active tickets in one transaction; return those tickets.

        ``NotFound`` (nothing written) if the user is not a member.
        """

        async def attempt(session: AsyncClientSession) -> list[Handover]:
            staff = {"_id": member_id(workspace_id, user_id), **STAFF}
            lined = {**staff, "line_id": {"$ne": None}}
            kept = await self._members.update_one(lined, LINE_ONLY_AGAIN, session=session)  # stays a line manager
            if not kept.matched_count and not (await self._members.delete_one(staff, session=session)).deleted_count:
                raise NotFound("this user is not a member of the workspace", {"user_id": user_id})
            return await release_member(self._db.db, workspace_id, user_id, now, session)

        return await self._db.transaction(attempt)

    async def set_member_role(self, user_id: str, role: str) -> int:
        """Give every membership of the user the role in one transaction; return how many changed."""

        async def attempt(session: AsyncClientSession) -> int:
            query = {"user_id": user_id, "role": {"$nin": [role, LINE_ONLY]}}
            result = await self._members.update_many(query, {"$set": {"role": role}}, session=session)
            return result.modified_count

        return await self._db.transaction(attempt)

    async def get_member(self, workspace_id: str, user_id: str) -> Member | None:
        """Return one member, or None."""
        doc = await self._members.find_one({"_id": member_id(workspace_id, user_id), **STAFF})
        return _member(doc) if doc else None

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return the workspace's members in the order they were added."""
        cursor = self._members.find({"workspace_id": workspace_id, **STAFF}).sort([("created_at", 1), ("user_id", 1)])
        return [_member(doc) async for doc in cursor]

    async def memberships(self, user_id: str) -> list[Member]:
        """Return every membership of a user."""
        cursor = self._members.find({"user_id": user_id, **STAFF}).sort([("created_at", 1)])
        return [_member(doc) async for doc in cursor]
