"""One AsyncMongoClient shared by every repository of a process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

SERVER_SELECTION_MS = 5_000

T = TypeVar("T")


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

    async def transaction(self, attempt: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``attempt`` as one multi-document transaction and return its result once committed.

        A write conflict aborts the attempt and ``with_transaction`` runs it again from the start
        (so ``attempt`` must do all its reads and writes with the session it is given); any other
        error aborts the transaction, leaving nothing written, and is raised. Needs a replica set.
        """
        async with self.client.start_session() as session:
            return await session.with_transaction(attempt)

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
