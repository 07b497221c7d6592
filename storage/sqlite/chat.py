"""Public chat on SQLite."""

from __future__ import annotations

from models.chat import ChatMessage
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    room TEXT NOT NULL,
    type TEXT NOT NULL,
    message_data TEXT NOT NULL,
    side TEXT NOT NULL,
    author TEXT NOT NULL,
    message_type TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_messages_room ON chat_messages (room, seq)
"""

_FIELDS = ("id", "room", "type", "message_data", "side", "author", "message_type", "sid", "created_at")


class SqliteChatStore:
    """Public chat messages in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the chat table if missing."""
        await self._db.create_schema(SCHEMA)

    async def add_message(self, message: ChatMessage) -> None:
        """Store one message."""
        values = message.model_dump()
        values["created_at"] = iso(message.created_at)
        await self._db.execute(
            f"INSERT INTO chat_messages ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            [values[f] for f in _FIELDS],
        )

    async def history(self, room: str, limit: int) -> list[ChatMessage]:
        """Return the room's newest ``limit`` messages, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {', '.join(_FIELDS)} FROM chat_messages WHERE room = ? ORDER BY seq DESC LIMIT ?",
            (room, limit),
        )
        return [
            ChatMessage.model_validate({**dict(row), "created_at": from_iso(row["created_at"])})
            for row in reversed(rows)
        ]
