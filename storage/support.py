"""Support-ticket repository (Dowell-compatible): topics, line managers, tickets, messages."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.support import LineManager, SupportMessage, SupportTicket, Topic
from storage.database import Database

MAX_MESSAGES = 1000


class SupportStore(Protocol):
    """Domain operations on support tickets; raises ``Conflict`` on duplicates."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def create_topic(self, topic: Topic) -> Topic:
        """Store a topic; ``Conflict`` if the workspace has one of that name."""

    async def list_topics(self, workspace_id: str) -> list[Topic]:
        """Return the workspace's topics in creation order."""

    async def create_line_manager(self, manager: LineManager) -> LineManager:
        """Store a line manager; ``Conflict`` if the workspace has one for that user."""

    async def list_line_managers(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""

    async def get_line_manager(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""

    async def open_ticket(
        self, ticket_id: str, workspace_id: str, user_id: str, product: str, now: datetime
    ) -> SupportTicket | None:
        """Atomically assign the least-loaded line manager (+1) and store the ticket; None if no manager."""

    async def restore_ticket(self, ticket: SupportTicket) -> None:
        """Store an exported ticket as it was (its manager's count comes with the exported line managers)."""

    async def list_tickets(self, workspace_id: str, product: str) -> list[SupportTicket]:
        """Return the workspace's tickets of ``product`` in creation order."""

    async def list_user_tickets(self, workspace_id: str, user_id: str) -> list[SupportTicket]:
        """Return the tickets one user (a widget visitor) opened in the workspace, in creation order."""

    async def get_ticket(self, workspace_id: str, ticket_id: str) -> SupportTicket | None:
        """Return one ticket of the workspace, or None."""

    async def ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every ticket of the workspace."""

    async def close_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Close an open ticket and take 1 off its manager's count (never below 0); None if not open."""

    async def reopen_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Reopen a closed ticket and add 1 to its manager's count; None if not closed."""

    async def reassign_ticket(
        self, workspace_id: str, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> SupportTicket | None:
        """Give an open ticket that is still ``expected``'s to ``assignee_id`` and move 1 of ``ticket_count`` from
        the one to the other, in one transaction; None if the ticket is not open or not ``expected``'s any more.

        ``Conflict`` (nothing written) if ``assignee_id`` is then neither a member nor a line manager of the
        workspace.
        """

    async def tickets_ahead(self, ticket: SupportTicket) -> int:
        """Return how many open tickets of the same manager were created before ``ticket``."""

    async def add_message(self, message: SupportMessage, uploader_id: str | None = None) -> None:
        """Store a message and link the attachments it names, in one transaction.

        The attachments must be unlinked uploads of the message's workspace key (or, with ``uploader_id``,
        of that widget visitor in the workspace); ``Conflict`` (nothing written, naming the first that is
        not) otherwise.
        """

    async def get_message(self, ticket_id: str, message_id: str) -> SupportMessage | None:
        """Return one message of the ticket, or None."""

    async def list_messages(self, ticket_id: str, limit: int = MAX_MESSAGES) -> list[SupportMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""

    async def count_unread(self, ticket_id: str, reader: str) -> int:
        """Return how many messages of the ticket not written by ``reader`` are unread."""

    async def mark_read(self, ticket_id: str, reader: str) -> int:
        """Mark the ticket's messages not written by ``reader`` as read; return how many changed."""


def make_support_store(db: Database) -> SupportStore:
    """Return the support store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.support import MongoSupportStore

        return MongoSupportStore(db)  # type: ignore[arg-type]
    from storage.sqlite.support import SqliteSupportStore

    return SqliteSupportStore(db)  # type: ignore[arg-type]
