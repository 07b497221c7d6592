"""The handle every repository is built from, whatever the backend."""

from __future__ import annotations

from typing import Literal, Protocol

from bson import ObjectId


class Database(Protocol):
    """An open backend: repositories look at ``kind`` to pick their implementation."""

    kind: Literal["sqlite", "mongo"]

    async def ping(self) -> bool:
        """Return True when the database answers."""
        ...

    async def close(self) -> None:
        """Release the connection(s)."""
        ...


def new_id() -> str:
    """Return a fresh 24-hex-digit identifier that sorts roughly by creation time."""
    return str(ObjectId())
