"""Widget visitor repository: the anonymous or verified people who chat through a workspace's widget."""

from __future__ import annotations

from typing import Protocol

from models.widget import TicketRating, VisitorRecord
from storage.database import Database


class VisitorStore(Protocol):
    """Domain operations on widget visitors (secrets stored only as hashes)."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def add(self, record: VisitorRecord) -> VisitorRecord:
        """Store a visitor; if the workspace already has one with the same (non-empty) identifier, store
        nothing and return that one (unique index: two devices of one customer get one visitor)."""

    async def get(self, workspace_id: str, visitor_id: str) -> VisitorRecord | None:
        """Return one visitor of the workspace, or None."""

    async def list(self, workspace_id: str) -> list[VisitorRecord]:
        """Return every visitor of the workspace, oldest first."""

    async def find_by_secret(self, workspace_id: str, secret_hash: str) -> VisitorRecord | None:
        """Return the workspace's visitor holding the secret with this hash, or None."""

    async def find_by_identifier(self, workspace_id: str, identifier: str) -> VisitorRecord | None:
        """Return the workspace's visitor with this verified identifier, or None."""

    async def claim_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> str:
        """Record that the visitor's message ``client_id`` is stored as ``message_id``, unless that client id is
        recorded already: return the message id it was first recorded with (a unique key decides)."""

    async def release_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> None:
        """Forget a claim whose message could not be stored (only while it still names ``message_id``)."""

    async def set_email(self, workspace_id: str, visitor_id: str, email: str) -> None:
        """Store the address the visitor left for replies (replacing an earlier one)."""

    async def get_email(self, workspace_id: str, visitor_id: str) -> str | None:
        """Return the address the visitor left for replies, or None."""

    async def add_rating(self, rating: TicketRating) -> bool:
        """Store the rating of a ticket; False (nothing stored) when the ticket has one already."""

    async def get_rating(self, ticket_id: str) -> TicketRating | None:
        """Return the rating of a ticket, or None."""


def make_visitor_store(db: Database) -> VisitorStore:
    """Return the visitor store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.visitors import MongoVisitorStore

        return MongoVisitorStore(db)  # type: ignore[arg-type]
    from storage.sqlite.visitors import SqliteVisitorStore

    return SqliteVisitorStore(db)  # type: ignore[arg-type]
