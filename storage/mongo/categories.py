"""A workspace's categories on MongoDB: signed-in categories and Dowell topics (``kind``) in one collection.

``init`` copies the documents of the collections today's main wrote (``hd_categories``; ``support_topics`` as
kind ``topic``) once with idempotent upserts (``$setOnInsert`` by ``_id``) and records it in ``migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict, NotFound
from models.helpdesk import CATEGORY_KIND, TOPIC_KIND, Category
from storage.categories import MIGRATION
from storage.mongo.db import MongoDatabase
from storage.mongo.ticket_docs import TICKETS

CATEGORIES = "categories"
DUPLICATE = "the workspace already has a category of that name"
BY_TIME = [("created_at", ASCENDING), ("_id", ASCENDING)]


def _in(doc: dict[str, Any]) -> Category:
    return Category.model_validate({"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}})


def _out(category: Category) -> dict[str, Any]:
    doc = category.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    doc["name_key"] = category.name.casefold()
    return dict(doc)


def _old_category(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "kind": CATEGORY_KIND, "name_key": doc.get("name_key") or doc["name"].casefold()}


def _old_topic(doc: dict[str, Any]) -> dict[str, Any]:
    extra = {"kind": TOPIC_KIND, "description": "", "updated_at": doc["created_at"]}
    return {**doc, **extra, "name_key": doc["name"].casefold()}


class MongoCategoryStore:
    """Categories (and Dowell topics) in MongoDB; names are unique by a unique index on the folded name."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._categories = db.db[CATEGORIES]
        self._tickets = db.db[TICKETS]

    async def init(self) -> None:
        """Create the categories indexes if missing, then copy ``hd_categories`` and ``support_topics`` once."""
        await self._categories.create_index(
            [("workspace_id", ASCENDING), ("kind", ASCENDING), ("name_key", ASCENDING)], unique=True
        )
        await self._categories.create_index([("workspace_id", ASCENDING), ("kind", ASCENDING), *BY_TIME])
        migrations = self._db.db["migrations"]
        if await migrations.find_one({"_id": MIGRATION}) is not None:
            return
        for source, convert in (("hd_categories", _old_category), ("support_topics", _old_topic)):
            async for doc in self._db.db[source].find().sort(BY_TIME):
                new = convert(doc)
                del new["_id"]
                await self._categories.update_one({"_id": doc["_id"]}, {"$setOnInsert": new}, upsert=True)
        await migrations.update_one({"_id": MIGRATION}, {"$setOnInsert": {"at": datetime.now(UTC)}}, upsert=True)

    async def create(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that kind and name (any case)."""
        try:
            await self._categories.insert_one(_out(category))
        except DuplicateKeyError as exc:
            raise Conflict(DUPLICATE, {"name": category.name}) from exc
        return category

    async def get(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        doc = await self._categories.find_one({"_id": category_id})
        if doc is None:
            raise NotFound("no such category", {"category_id": category_id})
        return _in(doc)

    async def list_by_name(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories of every kind, by name."""
        cursor = self._categories.find({"workspace_id": workspace_id}).sort([("name_key", 1), ("kind", 1), ("_id", 1)])
        return [_in(doc) async for doc in cursor]

    async def list_kind(self, workspace_id: str, kind: str) -> list[Category]:
        """Return the workspace's categories of one kind, in creation order."""
        cursor = self._categories.find({"workspace_id": workspace_id, "kind": kind}).sort(BY_TIME)
        return [_in(doc) async for doc in cursor]

    async def update(self, category_id: str, name: str | None, description: str | None, now: datetime) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""
        changes: dict[str, Any] = {"updated_at": now}
        if name is not None:
            changes |= {"name": name, "name_key": name.casefold()}
        if description is not None:
            changes["description"] = description
        try:
            doc = await self._categories.find_one_and_update(
                {"_id": category_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise Conflict(DUPLICATE, {"name": name}) from exc
        if doc is None:
            raise NotFound("no such category", {"category_id": category_id})
        return _in(doc)

    async def delete(self, category_id: str) -> None:
        """Delete a category no ticket uses."""
        await self.get(category_id)
        if await self._tickets.find_one({"category_id": category_id}, {"_id": 1}):
            raise Conflict("tickets are filed under this category", {"category_id": category_id})
        await self._categories.delete_one({"_id": category_id})
