"""Signed-in helpdesk on SQLite.

A ticket change and the load it moves (``workspace_members.load``: how many open or pending tickets
a member holds), or a message and the attachments it links, are written in one ``BEGIN IMMEDIATE``
transaction: a failure or a cancelled request rolls back both, so a load is never off by one.
"""

from __future__ import annotations

import json
from datetime import datetime

from models.errors import Conflict, NotFound
from models.helpdesk import Category
from models.tickets import ACTIVE, ReadMarker, Ticket, TicketMessage, TicketQuery, TicketStatus
from storage.attachments import link_kind
from storage.sqlite.attachments import init_records, tx_link_all
from storage.sqlite.categories import SqliteCategoryStore
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.helpdesk_loads import tx_add_load, tx_claim_least_loaded
from storage.sqlite.helpdesk_rows import (
    MESSAGE,
    READ,
    SCHEMA,
    TICKET,
    marker_of,
    message_of,
    ticket_of,
    ticket_values,
    ticket_where,
)
from storage.sqlite.members import init_members
from storage.sqlite.tickets import SIGNED_IN, init_tickets


class SqliteHelpdeskStore:
    """The helpdesk in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._categories = SqliteCategoryStore(db)

    async def init(self) -> None:
        """Create the helpdesk tables, and those of the member loads and uploads it writes, if missing."""
        await init_members(self._db)
        await init_records(self._db)
        await self._db.create_schema(SCHEMA)
        await init_tickets(self._db)
        await self._categories.init()

    async def create_category(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that kind and name (any case)."""
        return await self._categories.create(category)

    async def get_category(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        return await self._categories.get(category_id)

    async def list_categories(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories (Dowell topics too) by name."""
        return await self._categories.list_by_name(workspace_id)

    async def update_category(
        self, category_id: str, name: str | None, description: str | None, now: datetime
    ) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""
        return await self._categories.update(category_id, name, description, now)

    async def delete_category(self, category_id: str) -> None:
        """Delete a category no ticket uses; ``NotFound``, or ``Conflict`` while tickets use it."""
        await self._categories.delete(category_id)

    async def create_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket:
        """Count the assignee's load, link the client's attachments and store the ticket, in one transaction."""
        t = ticket
        async with self._db.transaction() as conn:
            if auto_assign and t.assignee_id is None:
                picked = await tx_claim_least_loaded(conn, t.workspace_id, t.category_id)
                t = t.model_copy(update={"assignee_id": picked})
            elif t.assignee_id and t.status in ACTIVE:
                await tx_add_load(conn, t.workspace_id, t.assignee_id, 1)
            await tx_link_all(conn, t.attachments, t.client_id, None, "helpdesk", t.id)
            await conn.execute(f"INSERT INTO tickets ({TICKET}) VALUES ({', '.join('?' * 13)})", ticket_values(t))
        return t

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket; ``NotFound`` if unknown."""
        row = await self._db.fetch_one(f"SELECT {TICKET} FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise NotFound("no such ticket", {"ticket_id": ticket_id})
        return ticket_of(row)

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query``, newest first, after a cursor position."""
        where, params = ticket_where(query, after)
        rows = await self._db.fetch_all(
            f"SELECT {TICKET} FROM tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [ticket_of(r) for r in rows]

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``, and its assignee's load with it, in one transaction.

        A ticket made active again whose assignee is no longer a member becomes unassigned in the same step.
        """
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                f"UPDATE tickets SET status = ?, updated_at = ? WHERE id = ? AND {SIGNED_IN} AND status = ? "
                f"RETURNING {TICKET}",
                (status.value, iso(now), ticket_id, expected.value),
            )
            if row is None:
                return None
            changed = ticket_of(row)
            was, became = expected in ACTIVE, status in ACTIVE
            if changed.assignee_id and was != became:
                counted = await tx_add_load(conn, changed.workspace_id, changed.assignee_id, 1 if became else -1)
                if became and not counted:  # reopened after its assignee left the workspace: nobody's now
                    row = await tx_fetch_one(
                        conn, f"UPDATE tickets SET assignee_id = NULL WHERE id = ? RETURNING {TICKET}", (ticket_id,)
                    )
                    changed = ticket_of(row)
        return changed

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if still ``expected``'s, moving its load too, in one transaction.

        ``Conflict`` (nothing written) if the ticket is active and ``assignee_id`` is not a member any more.
        """
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                f"UPDATE tickets SET assignee_id = ?, updated_at = ? WHERE id = ? AND {SIGNED_IN} AND assignee_id IS ? "
                f"RETURNING {TICKET}",
                (assignee_id, iso(now), ticket_id, expected),
            )
            if row is None:
                return None
            changed = ticket_of(row)
            if changed.status in ACTIVE and expected != assignee_id:
                if not await tx_add_load(conn, changed.workspace_id, assignee_id, 1):
                    raise Conflict("the assignee is no longer a member of the workspace", {"assignee_id": assignee_id})
                if expected:
                    await tx_add_load(conn, changed.workspace_id, expected, -1)
        return changed

    async def add_message(self, message: TicketMessage) -> None:
        """Touch the ticket, store the message and link the author's attachments, in one transaction.

        ``NotFound``, or ``Conflict`` if the ticket is closed or an attachment is taken: nothing is written.
        """
        m = message
        async with self._db.transaction() as conn:
            touched = await tx_fetch_one(
                conn,
                "UPDATE tickets SET updated_at = ? WHERE id = ? AND status != ? RETURNING door, workspace_id",
                (iso(m.created_at), m.ticket_id, TicketStatus.CLOSED.value),
            )
            if touched is None:
                known = await tx_fetch_one(conn, "SELECT 1 FROM tickets WHERE id = ?", (m.ticket_id,))
                if known is None:
                    raise NotFound("no such ticket", {"ticket_id": m.ticket_id})
                raise Conflict("the ticket is closed", {"ticket_id": m.ticket_id})
            kind, into = link_kind(touched["door"], touched["workspace_id"])
            await tx_link_all(conn, m.attachments, m.author_id, None, kind, m.ticket_id, into)
            await conn.execute(
                f"INSERT INTO ticket_messages ({MESSAGE}, workspace_id, product) SELECT ?, ?, ?, ?, ?, ?, ?, "
                "workspace_id, product FROM tickets WHERE id = ?",
                (
                    m.id,
                    m.ticket_id,
                    m.author_id,
                    m.author_role,
                    m.body,
                    json.dumps(m.attachments),
                    iso(m.created_at),
                    m.ticket_id,
                ),
            )

    async def get_message(self, ticket_id: str, message_id: str) -> TicketMessage | None:
        """Return one message of the ticket, or None."""
        row = await self._db.fetch_one(
            f"SELECT {MESSAGE} FROM ticket_messages WHERE id = ? AND ticket_id = ?", (message_id, ticket_id)
        )
        return message_of(row) if row else None

    async def list_messages(self, ticket_id: str, limit: int) -> list[TicketMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {MESSAGE} FROM ticket_messages WHERE ticket_id = ? ORDER BY seq DESC LIMIT ?", (ticket_id, limit)
        )
        return [message_of(r) for r in reversed(rows)]

    async def set_read(self, marker: ReadMarker) -> ReadMarker:
        """Move the read marker forward only, in one conditional upsert."""
        m = marker
        await self._db.execute(
            f"INSERT INTO hd_reads ({READ}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id, user_id) DO UPDATE SET "
            "message_id = excluded.message_id, message_at = excluded.message_at, at = excluded.at "
            "WHERE (excluded.message_at, excluded.message_id) > (hd_reads.message_at, hd_reads.message_id)",
            (m.ticket_id, m.user_id, m.message_id, iso(m.message_at), iso(m.at)),
        )
        row = await self._db.fetch_one(
            f"SELECT {READ} FROM hd_reads WHERE ticket_id = ? AND user_id = ?", (m.ticket_id, m.user_id)
        )
        return marker_of(row)

    async def list_reads(self, ticket_id: str) -> list[ReadMarker]:
        """Return every user's read marker of the ticket."""
        rows = await self._db.fetch_all(f"SELECT {READ} FROM hd_reads WHERE ticket_id = ? ORDER BY at", (ticket_id,))
        return [marker_of(r) for r in rows]
