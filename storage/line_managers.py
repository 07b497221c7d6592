"""Line-manager repository: a workspace's Dowell line (members with a place in the line, ``ticket_count``).

The line managers are workspace members (``storage.sqlite.line_managers``, ``storage.mongo.line_managers``); the
ticket store claims and moves their ``ticket_count`` in the ticket's own transaction.
"""

from __future__ import annotations

from typing import Protocol

from models.support import LineManager
from storage.database import Database


class LineManagerStore(Protocol):
    """Domain operations on a workspace's line managers; raises ``Conflict`` on duplicates."""

    async def init(self) -> None:
        """Give the members their line fields if missing, then migrate today's line managers once."""

    async def create(self, manager: LineManager) -> LineManager:
        """Store a line manager; ``Conflict`` if the workspace has one for that user."""

    async def list_in_line(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""

    async def get(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""


def make_line_manager_store(db: Database) -> LineManagerStore:
    """Return the line-manager store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.line_managers import MongoLineManagerStore

        return MongoLineManagerStore(db)  # type: ignore[arg-type]
    from storage.sqlite.line_managers import SqliteLineManagerStore

    return SqliteLineManagerStore(db)  # type: ignore[arg-type]
