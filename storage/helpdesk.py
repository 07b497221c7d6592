"""Helpdesk repository: categories, tickets (compare-and-set changes), messages, read markers.

Invariant: a workspace member's ``load`` is the number of tickets assigned to them whose status is
in ``ACTIVE`` (open, pending). Every ticket write that changes that number moves the load in the same
database transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.helpdesk import Category
from models.tickets import ReadMarker, Ticket, TicketMessage, TicketQuery, TicketStatus
from storage.database import Database


class HelpdeskStore(Protocol):
    """Domain operations of the signed-in helpdesk; raises ``NotFound`` and ``Conflict``."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def create_category(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that name."""

    async def get_category(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""

    async def list_categories(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories by name."""

    async def update_category(
        self, category_id: str, name: str | None, description: str | None, now: datetime
    ) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""

    async def delete_category(self, category_id: str) -> None:
        """Delete a category no ticket uses; ``NotFound``, or ``Conflict`` while tickets use it."""

    async def create_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket:
        """Store a new ticket, in one transaction with the load it adds and the attachments it links.

        With ``auto_assign`` (and no assignee given) the category's least-loaded agent gets the ticket
        and 1 more load; a given assignee of an active ticket gets 1 more load. The client's uploads named
        in ``attachments`` are linked to it; ``Conflict`` (nothing written) if one is no longer an unlinked
        upload of theirs. Returns the ticket as stored (with its assignee).
        """

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket; ``NotFound`` if unknown."""

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query``, newest first, after a cursor position."""

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``; None if its status was not ``expected``.

        When the ticket enters or leaves an active status (``ACTIVE``) its assignee's load moves by 1 in
        the same transaction; a ticket made active again whose assignee has left the workspace becomes
        unassigned instead (nobody's load changes).
        """

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if it was still ``expected``'s; else None.

        If the ticket is active, 1 load moves from ``expected`` to ``assignee_id`` in the same transaction;
        ``Conflict`` (nothing written) if ``assignee_id`` is then not a member of the workspace any more.
        """

    async def add_message(self, message: TicketMessage) -> None:
        """Store a message, touch its ticket's ``updated_at`` and link the author's attachments, in one transaction.

        ``NotFound`` if the ticket is unknown; ``Conflict`` (nothing written) if it is closed or an attachment
        is no longer an unlinked upload of the author.
        """

    async def get_message(self, ticket_id: str, message_id: str) -> TicketMessage | None:
        """Return one message of the ticket, or None."""

    async def list_messages(self, ticket_id: str, limit: int) -> list[TicketMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""

    async def set_read(self, marker: ReadMarker) -> ReadMarker:
        """Move the user's read marker forward to ``marker`` (never back); return the stored one."""

    async def list_reads(self, ticket_id: str) -> list[ReadMarker]:
        """Return every user's read marker of the ticket."""


def make_helpdesk_store(db: Database) -> HelpdeskStore:
    """Return the helpdesk store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.helpdesk import MongoHelpdeskStore

        return MongoHelpdeskStore(db)  # type: ignore[arg-type]
    from storage.sqlite.helpdesk import SqliteHelpdeskStore

    return SqliteHelpdeskStore(db)  # type: ignore[arg-type]
