"""One AsyncMongoClient shared by every repository of a process."""

from __future__ import annotations

from typing import Any, Literal

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

SERVER_SELECTION_MS = 5_000


class MongoDatabase:
    """A MongoDB database; atomicity comes from conditional updates and transactions."""

    kind: Literal["mongo"] = "mongo"

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: AsyncDatabase[dict[str, Any]]) -> None:
        self.client = client
        self.db = db

    @classmethod
    async def open(cls, url: str, name: str) -> MongoDatabase:
        """Connect to ``url`` and use database ``name``."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=SERVER_SELECTION_MS, tz_aware=True
        )
        return cls(client, client[name])

    async def ping(self) -> bool:
        """Return True when the server answers."""
        try:
            await self.db.command("ping")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()
