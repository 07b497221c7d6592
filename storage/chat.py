"""Public chat repository: messages of a room."""

from __future__ import annotations

from typing import Protocol

from models.chat import ChatMessage
from storage.database import Database


class ChatStore(Protocol):
    """Domain operations on public chat rooms."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def add_message(self, message: ChatMessage) -> None:
        """Store one message."""

    async def history(self, room: str, limit: int) -> list[ChatMessage]:
        """Return the room's newest ``limit`` messages, oldest first."""


def make_chat_store(db: Database) -> ChatStore:
    """Return the chat store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.chat import MongoChatStore

        return MongoChatStore(db)  # type: ignore[arg-type]
    from storage.sqlite.chat import SqliteChatStore

    return SqliteChatStore(db)  # type: ignore[arg-type]
