"""Widget visitors on MongoDB."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from models.widget import TicketRating, VisitorRecord
from storage.mongo.db import MongoDatabase


def _visitor(doc: dict[str, Any]) -> VisitorRecord:
    return VisitorRecord.model_validate({**doc, "id": doc["_id"]})


class MongoVisitorStore:
    """Widget visitors in MongoDB; unique indexes keep one visitor per secret and per verified identifier."""

    def __init__(self, db: MongoDatabase) -> None:
        self._visitors = db.db["widget_visitors"]
        self._sends = db.db["widget_sends"]
        self._contacts = db.db["widget_contacts"]
        self._ratings = db.db["widget_ratings"]

    async def init(self) -> None:
        """Create the visitor indexes if missing."""
        await self._visitors.create_index("secret_hash", unique=True)
        await self._visitors.create_index(
            [("workspace_id", ASCENDING), ("identifier", ASCENDING)],
            unique=True,
            partialFilterExpression={"identifier": {"$type": "string"}},
        )
        await self._sends.create_index(
            [("workspace_id", ASCENDING), ("visitor_id", ASCENDING), ("client_id", ASCENDING)], unique=True
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

    async def claim_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> str:
        """Record the client id's message id unless recorded already; return the one recorded first."""
        key = {"workspace_id": workspace_id, "visitor_id": visitor_id, "client_id": client_id}
        try:
            await self._sends.insert_one({**key, "message_id": message_id})
        except DuplicateKeyError:
            found = await self._sends.find_one(key)
            return str(found["message_id"]) if found else message_id
        return message_id

    async def release_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> None:
        """Forget a claim whose message could not be stored."""
        key = {"workspace_id": workspace_id, "visitor_id": visitor_id, "client_id": client_id}
        await self._sends.delete_one({**key, "message_id": message_id})

    async def set_email(self, workspace_id: str, visitor_id: str, email: str) -> None:
        """Store the address the visitor left for replies."""
        key = f"{workspace_id}:{visitor_id}"
        await self._contacts.update_one({"_id": key}, {"$set": {"email": email}}, upsert=True)

    async def get_email(self, workspace_id: str, visitor_id: str) -> str | None:
        """Return the address the visitor left for replies, or None."""
        doc = await self._contacts.find_one({"_id": f"{workspace_id}:{visitor_id}"})
        return str(doc["email"]) if doc else None

    async def add_rating(self, rating: TicketRating) -> bool:
        """Store the rating of a ticket; False when the ticket has one already (the ticket id is the key)."""
        doc = rating.model_dump()
        doc["_id"] = doc.pop("ticket_id")
        try:
            await self._ratings.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_rating(self, ticket_id: str) -> TicketRating | None:
        """Return the rating of a ticket, or None."""
        doc = await self._ratings.find_one({"_id": ticket_id})
        return TicketRating.model_validate({**doc, "ticket_id": doc["_id"]}) if doc else None
