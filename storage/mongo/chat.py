"""Public chat on MongoDB."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from models.chat import ChatMessage
from storage.mongo.db import MongoDatabase


class MongoChatStore:
    """Public chat messages in MongoDB, ordered by time then id."""

    def __init__(self, db: MongoDatabase) -> None:
        self._messages = db.db["chat_messages"]

    async def init(self) -> None:
        """Create the chat index if missing."""
        await self._messages.create_index([("room", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)])

    async def add_message(self, message: ChatMessage) -> None:
        """Store one message."""
        doc = message.model_dump()
        doc["_id"] = doc.pop("id")
        await self._messages.insert_one(doc)

    async def history(self, room: str, limit: int) -> list[ChatMessage]:
        """Return the room's newest ``limit`` messages, oldest first."""
        cursor = (
            self._messages.find({"room": room}).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        )
        docs = [doc async for doc in cursor]
        return [ChatMessage.model_validate({**doc, "id": doc["_id"]}) for doc in reversed(docs)]
