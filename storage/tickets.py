"""Ticket repository: the one ticket aggregate, whichever door a ticket came in by, and its message history.

A ticket document (``models.tickets.Ticket``) has a ``door``: ``signed_in`` (a client's, filed under a category,
assigned to the category's least-loaded agent by helpdesk ``load``) or one of the *line doors* ``dowell`` (opened
with the workspace key) and ``widget`` (a visitor's), which name a ``product`` and are assigned to the workspace's
line manager with the least ``ticket_count``. The door-specific views (the Dowell shape) are built by the
services. Messages are stored once (``ticket_messages``), written and read as one record (``MessageRecord``, its
views built by the services).

Invariants, each kept by one statement or one transaction on both backends: a member's ``load`` counts the
signed-in tickets they hold in an active status (``ACTIVE``); a line manager's ``ticket_count`` moves with every
line ticket it gets, closes, reopens or hands over (never below 0); a message and the attachments it links are
written together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.tickets import MessageRecord, ReadMarker, Ticket, TicketQuery, TicketStatus
from storage.database import Database

MAX_MESSAGES = 1000


class TicketStore(Protocol):
    """Domain operations of the ticket aggregate; raises ``NotFound`` and ``Conflict``."""

    async def init(self) -> None:
        """Create the tables or indexes the tickets live in (and those of the loads and uploads they write)."""

    async def open_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket | None:
        """Store a new ticket with its holder by its door's rule, in one transaction with the count it adds and the
        attachments it links; return it as stored (with its assignee).

        A line-door ticket (Dowell, widget) goes to the workspace's line manager with the least ``ticket_count``
        (+1); None (nothing written) if the workspace has none. A signed-in ticket with ``auto_assign`` (and no
        assignee given) goes to the category's least-loaded agent (+1 ``load``), and a given assignee of an active
        one gets 1 more load; the client's uploads named in ``attachments`` are linked to it, ``Conflict`` (nothing
        written) if one is no longer an unlinked upload of theirs.
        """

    async def restore_ticket(self, ticket: Ticket) -> None:
        """Store an exported line-door ticket as it was, unless its id exists (its manager's count comes with the
        exported line managers)."""

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket of any door; ``NotFound`` if unknown."""

    async def get_line_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None:
        """Return one line-door ticket of the workspace, or None."""

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query`` (who may see what), newest first, after a cursor."""

    async def list_line_tickets(
        self, workspace_id: str, product: str | None = None, client_id: str | None = None
    ) -> list[Ticket]:
        """Return the workspace's line-door tickets (of ``product``, of ``client_id``, when given), oldest first."""

    async def line_ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every line-door ticket of the workspace."""

    async def tickets_ahead(self, ticket: Ticket) -> int:
        """Return how many open tickets of the same holder and workspace were created before ``ticket``."""

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``; None if its status was not ``expected``.

        When the ticket enters or leaves an active status its holder's count moves by 1 in the same transaction
        (``load`` at the signed-in door, ``ticket_count`` at a line door, never below 0); a signed-in ticket made
        active again whose assignee has left the workspace becomes unassigned instead.
        """

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if it is still ``expected``'s (a line-door ticket: and open); else None.

        If the ticket is active, 1 of its door's count moves from ``expected`` to ``assignee_id`` in the same
        transaction; ``Conflict`` (nothing written) if ``assignee_id`` then has no member row in the workspace.
        """

    async def add_message(self, message: MessageRecord, uploader_id: str | None = None) -> None:
        """Store a message and link the attachments it names, in one transaction, by its writer's rule.

        A signed-in user's (``author_role`` not in ``LINE_ROLES``): the ticket's ``updated_at`` is touched and the
        author's unlinked uploads are linked (into the ticket's workspace at a line door); ``NotFound`` if the ticket
        is unknown, ``Conflict`` (nothing written) if it is closed or an attachment is not such an upload.
        Written at a line door (``dowell``, ``visitor``): the ticket is untouched and the attachments must be
        unlinked uploads of the message's workspace key (or, with ``uploader_id``, of that uploader in the
        workspace); ``Conflict`` (nothing written, naming the first that is not) otherwise.
        """

    async def get_message(self, ticket_id: str, message_id: str) -> MessageRecord | None:
        """Return one message of the ticket, or None."""

    async def list_messages(self, ticket_id: str, limit: int = MAX_MESSAGES) -> list[MessageRecord]:
        """Return the ticket's newest ``limit`` messages, oldest first."""

    async def count_unread(self, ticket_id: str, reader: str) -> int:
        """Return how many messages of the ticket not written by ``reader`` are unread (the Dowell flag)."""

    async def mark_read(self, ticket_id: str, reader: str) -> int:
        """Mark the ticket's messages not written by ``reader`` as read (the Dowell flag); return how many changed."""

    async def set_read(self, marker: ReadMarker) -> ReadMarker:
        """Move the user's read marker forward to ``marker`` (never back); return the stored one."""

    async def list_reads(self, ticket_id: str) -> list[ReadMarker]:
        """Return every user's read marker of the ticket."""


def make_ticket_store(db: Database) -> TicketStore:
    """Return the ticket store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.tickets import MongoTicketStore

        return MongoTicketStore(db)  # type: ignore[arg-type]
    from storage.sqlite.tickets import SqliteTicketStore

    return SqliteTicketStore(db)  # type: ignore[arg-type]
