"""Widget visitors on MongoDB."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from models.widget import VisitorRecord
from storage.mongo.db import MongoDatabase


def _visitor(doc: dict[str, Any]) -> VisitorRecord:
    return VisitorRecord.model_validate({**doc, "id": doc["_id"]})


class MongoVisitorStore:
    """Widget visitors in MongoDB; unique indexes keep one visitor per secret and per verified identifier."""

    def __init__(self, db: MongoDatabase) -> None:
        self._visitors = db.db["widget_visitors"]

    async def init(self) -> None:
        """Create the visitor indexes if missing."""
        await self._visitors.create_index("secret_hash", unique=True)
        await self._visitors.create_index(
            [("workspace_id", ASCENDING), ("identifier", ASCENDING)],
            unique=True,
            partialFilterExpression={"identifier": {"$type": "string"}},
        )

    async def add(self, record: VisitorRecord) -> VisitorRecord:
        """Store a visitor, or return the workspace's visitor that already has its identifier."""
        doc = record.model_dump()
        doc["_id"] = doc.pop("id")
        try:
            await self._visitors.insert_one(doc)
        except DuplicateKeyError:
            if record.identifier is None:
                raise
            found = await self.find_by_identifier(record.workspace_id, record.identifier)
            assert found is not None, "a visitor with this identifier exists (the insert conflicted on it)"
            return found
        return record

    async def get(self, workspace_id: str, visitor_id: str) -> VisitorRecord | None:
        """Return one visitor of the workspace, or None."""
        return await self._one({"_id": visitor_id, "workspace_id": workspace_id})

    async def list(self, workspace_id: str) -> list[VisitorRecord]:
        """Return every visitor of the workspace, oldest first."""
        cursor = self._visitors.find({"workspace_id": workspace_id}).sort([("created_at", 1), ("_id", 1)])
        return [_visitor(doc) async for doc in cursor]

    async def find_by_secret(self, workspace_id: str, secret_hash: str) -> VisitorRecord | None:
        """Return the workspace's visitor holding the secret with this hash, or None."""
        return await self._one({"secret_hash": secret_hash, "workspace_id": workspace_id})

    async def find_by_identifier(self, workspace_id: str, identifier: str) -> VisitorRecord | None:
        """Return the workspace's visitor with this verified identifier, or None."""
        return await self._one({"workspace_id": workspace_id, "identifier": identifier})

    async def _one(self, query: dict[str, Any]) -> VisitorRecord | None:
        doc = await self._visitors.find_one(query)
        return _visitor(doc) if doc else None
