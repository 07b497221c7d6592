"""Support tickets (Dowell-compatible) on SQLite."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.errors import Conflict
from models.helpdesk import TOPIC_KIND
from models.support import LineManager, SupportMessage, SupportTicket, Topic
from storage.categories import topic_category, topic_of
from storage.sqlite.attachments import init_records, tx_link_all
from storage.sqlite.categories import SqliteCategoryStore
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.line_managers import COLUMNS as LINE
from storage.sqlite.line_managers import (
    line_manager_of,
    migrate_line_managers,
    put_line_manager,
    tx_claim_line_manager,
    tx_move_count,
)
from storage.sqlite.tickets import NOT_SIGNED_IN, door_of, init_tickets

# Dowell shapes read from the unified tables (``storage.sqlite.tickets``)
_TICKET = (
    "id, workspace_id, client_id AS user_id, product, assignee_id AS line_manager, "
    "status = 'closed' AS is_closed, created_at, updated_at"
)
_MESSAGE = (
    "id, ticket_id, workspace_id, product, author_id AS author, body AS message_data, reply_to, "
    "attachments, is_read, created_at"
)


def _dated(row: Any, *fields: str) -> dict[str, Any]:
    values = dict(row)
    for name in fields:
        values[name] = from_iso(values[name])
    return values


def _ticket(row: Any) -> SupportTicket:
    values = _dated(row, "created_at", "updated_at")
    values["is_closed"] = bool(values["is_closed"])
    return SupportTicket.model_validate(values)


def _message(row: Any) -> SupportMessage:
    values = _dated(row, "created_at")
    values["is_read"] = bool(values["is_read"])
    values["attachments"] = json.loads(values["attachments"])
    return SupportMessage.model_validate(values)


class SqliteSupportStore:
    """Support tickets in the embedded database; assignment is one BEGIN IMMEDIATE transaction."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._categories = SqliteCategoryStore(db)  # topics are categories of kind ``topic``

    async def init(self) -> None:
        """Create the tables support writes (its own are the unified tickets and categories), if missing, and move
        today's line managers into the members table once."""
        await init_records(self._db)
        await init_tickets(self._db)
        await self._categories.init()
        await migrate_line_managers(self._db)

    async def create_topic(self, topic: Topic) -> Topic:
        """Store a topic as a category of kind ``topic``; ``Conflict`` if the workspace has one of that name."""
        try:
            await self._categories.create(topic_category(topic))
        except Conflict as exc:
            raise Conflict(f"Topic {topic.name} already exists") from exc
        return topic

    async def list_topics(self, workspace_id: str) -> list[Topic]:
        """Return the workspace's topics in creation order."""
        return [topic_of(c) for c in await self._categories.list_kind(workspace_id, TOPIC_KIND)]

    async def create_line_manager(self, manager: LineManager) -> LineManager:
        """Store a line manager (a member row); ``Conflict`` if the workspace has one for that user."""
        await put_line_manager(self._db, manager)
        return manager

    async def list_line_managers(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""
        rows = await self._db.fetch_all(
            f"SELECT {LINE} FROM workspace_members WHERE workspace_id = ? AND line_id IS NOT NULL "
            "ORDER BY line_position, line_since, line_id",
            (workspace_id,),
        )
        return [line_manager_of(r) for r in rows]

    async def get_line_manager(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""
        row = await self._db.fetch_one(
            f"SELECT {LINE} FROM workspace_members WHERE workspace_id = ? AND user_id = ? AND line_id IS NOT NULL",
            (workspace_id, user_id),
        )
        return line_manager_of(row) if row else None

    async def open_ticket(
        self, ticket_id: str, workspace_id: str, user_id: str, product: str, now: datetime
    ) -> SupportTicket | None:
        """Pick the least-loaded manager, count the ticket and store it, all in one write transaction."""
        async with self._db.transaction() as conn:
            manager = await tx_claim_line_manager(conn, workspace_id)
            if manager is None:
                return None
            await conn.execute(
                "INSERT INTO tickets (id, door, workspace_id, client_id, product, assignee_id, status, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                (ticket_id, door_of(user_id), workspace_id, user_id, product, manager, iso(now), iso(now)),
            )
        return SupportTicket(
            id=ticket_id,
            user_id=user_id,
            line_manager=manager,
            created_at=now,
            updated_at=now,
            product=product,
            workspace_id=workspace_id,
        )

    async def restore_ticket(self, ticket: SupportTicket) -> None:
        """Store an exported ticket as it was (its manager's count comes with the exported line managers)."""
        t = ticket
        await self._db.execute(
            "INSERT INTO tickets (id, door, workspace_id, client_id, product, assignee_id, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                t.id,
                door_of(t.user_id),
                t.workspace_id,
                t.user_id,
                t.product,
                t.line_manager,
                "closed" if t.is_closed else "open",
                iso(t.created_at),
                iso(t.updated_at),
            ),
        )

    async def list_tickets(self, workspace_id: str, product: str) -> list[SupportTicket]:
        """Return the workspace's tickets of ``product`` in creation order."""
        rows = await self._db.fetch_all(
            f"SELECT {_TICKET} FROM tickets WHERE workspace_id = ? AND product = ? AND {NOT_SIGNED_IN} "
            "ORDER BY created_at, id",
            (workspace_id, product),
        )
        return [_ticket(r) for r in rows]

    async def list_user_tickets(self, workspace_id: str, user_id: str) -> list[SupportTicket]:
        """Return the tickets one user (a widget visitor) opened in the workspace, in creation order."""
        rows = await self._db.fetch_all(
            f"SELECT {_TICKET} FROM tickets WHERE workspace_id = ? AND client_id = ? AND {NOT_SIGNED_IN} "
            "ORDER BY created_at, id",
            (workspace_id, user_id),
        )
        return [_ticket(r) for r in rows]

    async def get_ticket(self, workspace_id: str, ticket_id: str) -> SupportTicket | None:
        """Return one ticket of the workspace, or None."""
        row = await self._db.fetch_one(
            f"SELECT {_TICKET} FROM tickets WHERE id = ? AND workspace_id = ? AND {NOT_SIGNED_IN}",
            (ticket_id, workspace_id),
        )
        return _ticket(row) if row else None

    async def ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every ticket of the workspace."""
        rows = await self._db.fetch_all(
            f"SELECT id FROM tickets WHERE workspace_id = ? AND {NOT_SIGNED_IN}", (workspace_id,)
        )
        return [row["id"] for row in rows]

    async def _flip(self, workspace_id: str, ticket_id: str, closed: bool, now: datetime) -> SupportTicket | None:
        """Flip ``is_closed`` if it is not already so and move the manager's count, in one transaction."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                f"UPDATE tickets SET status = ?, updated_at = ? "
                f"WHERE id = ? AND workspace_id = ? AND {NOT_SIGNED_IN} AND status = ? RETURNING {_TICKET}",
                ("closed" if closed else "open", iso(now), ticket_id, workspace_id, "open" if closed else "closed"),
            )
            if row is None:
                return None
            await tx_move_count(conn, workspace_id, row["line_manager"], -1 if closed else 1)
        return _ticket(row)

    async def close_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Close an open ticket and take 1 off its manager's count (never below 0); None if not open."""
        return await self._flip(workspace_id, ticket_id, True, now)

    async def reopen_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Reopen a closed ticket and add 1 to its manager's count; None if not closed."""
        return await self._flip(workspace_id, ticket_id, False, now)

    async def reassign_ticket(
        self, workspace_id: str, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> SupportTicket | None:
        """Move the ticket and 1 of ``ticket_count`` from ``expected`` to ``assignee_id`` in one transaction."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                f"UPDATE tickets SET assignee_id = ?, updated_at = ? WHERE id = ? AND workspace_id = ? "
                f"AND {NOT_SIGNED_IN} AND status = 'open' AND assignee_id IS ? RETURNING {_TICKET}",
                (assignee_id, iso(now), ticket_id, workspace_id, expected),
            )
            if row is None:
                return None
            if not await tx_move_count(conn, workspace_id, assignee_id, 1):  # rolls the ticket back too
                raise Conflict("the new assignee left the workspace meanwhile", {"assignee_id": assignee_id})
            await tx_move_count(conn, workspace_id, expected, -1)
        return _ticket(row)

    async def tickets_ahead(self, ticket: SupportTicket) -> int:
        """Return how many open tickets of the same manager were created before ``ticket``."""
        row = await self._db.fetch_one(
            f"SELECT COUNT(*) AS n FROM tickets WHERE workspace_id = ? AND assignee_id = ? AND {NOT_SIGNED_IN} "
            "AND status != 'closed' AND (created_at, id) < (?, ?)",
            (ticket.workspace_id, ticket.line_manager, iso(ticket.created_at), ticket.id),
        )
        return int(row["n"]) if row else 0

    async def add_message(self, message: SupportMessage, uploader_id: str | None = None) -> None:
        """Link the uploader's (default: the workspace key's) attachments and store the message, in one transaction."""
        m = message
        async with self._db.transaction() as conn:
            await tx_link_all(conn, m.attachments, uploader_id, m.workspace_id, "support", m.ticket_id)
            await conn.execute(
                "INSERT INTO ticket_messages (id, ticket_id, workspace_id, product, author_id, author_role, body, "
                "reply_to, attachments, is_read, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.id,
                    m.ticket_id,
                    m.workspace_id,
                    m.product,
                    m.author,
                    "visitor" if door_of(m.author) == "widget" else "dowell",
                    m.message_data,
                    m.reply_to,
                    json.dumps(m.attachments),
                    int(m.is_read),
                    iso(m.created_at),
                ),
            )

    async def get_message(self, ticket_id: str, message_id: str) -> SupportMessage | None:
        """Return one message of the ticket, or None."""
        row = await self._db.fetch_one(
            f"SELECT {_MESSAGE} FROM ticket_messages WHERE id = ? AND ticket_id = ?", (message_id, ticket_id)
        )
        return _message(row) if row else None

    async def list_messages(self, ticket_id: str, limit: int = 1000) -> list[SupportMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_MESSAGE} FROM ticket_messages WHERE ticket_id = ? ORDER BY seq DESC LIMIT ?",
            (ticket_id, limit),
        )
        return [_message(r) for r in reversed(rows)]

    async def count_unread(self, ticket_id: str, reader: str) -> int:
        """Return how many messages of the ticket not written by ``reader`` are unread."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM ticket_messages WHERE ticket_id = ? AND author_id != ? AND is_read = 0",
            (ticket_id, reader),
        )
        return int(row["n"]) if row else 0

    async def mark_read(self, ticket_id: str, reader: str) -> int:
        """Mark the ticket's messages not written by ``reader`` as read; return how many changed."""
        return await self._db.execute(
            "UPDATE ticket_messages SET is_read = 1 WHERE ticket_id = ? AND author_id != ? AND is_read = 0",
            (ticket_id, reader),
        )
