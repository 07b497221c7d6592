"""The ticket store on SQLite: every door's tickets in one table (``storage.sqlite.ticket_tables``).

A ticket change and the count it moves (the signed-in ``load`` of ``storage.sqlite.member_loads``, the line
door's ``ticket_count`` of ``storage.sqlite.line_managers``), or a message and the attachments it links, are
written in one ``BEGIN IMMEDIATE`` transaction: a failure or a cancelled request rolls back both, so a count is
never off by one. The message operations are ``storage.sqlite.ticket_messages``'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict, NotFound
from models.tickets import ACTIVE, SIGNED_IN_DOOR, Ticket, TicketQuery, TicketStatus
from storage.sqlite.attachments import init_records, tx_link_all
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.line_managers import tx_claim_line_manager, tx_move_count
from storage.sqlite.member_loads import tx_add_load, tx_claim_least_loaded
from storage.sqlite.members import init_members
from storage.sqlite.ticket_messages import SqliteTicketMessages
from storage.sqlite.ticket_rows import SCHEMA, TICKET, ticket_of, ticket_values, ticket_where
from storage.sqlite.ticket_tables import NOT_SIGNED_IN, init_tickets

_INSERT = f"INSERT INTO tickets ({TICKET}) VALUES ({', '.join('?' * 13)})"


async def _move(conn: aiosqlite.Connection, ticket: Ticket, user_id: str, delta: int) -> bool:
    """Move the count of the ticket's door (``load`` signed in, else ``ticket_count``) of a member by ``delta``;
    return False if they have no (staff, for ``load``) member row in the ticket's workspace."""
    if ticket.door == SIGNED_IN_DOOR:
        return await tx_add_load(conn, ticket.workspace_id, user_id, delta)
    return await tx_move_count(conn, ticket.workspace_id, user_id, delta)


class SqliteTicketStore(SqliteTicketMessages):
    """The ticket aggregate in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the ticket tables, and those of the member counts, read markers and uploads it writes."""
        await init_members(self._db)
        await init_records(self._db)
        await self._db.create_schema(SCHEMA)
        await init_tickets(self._db)

    async def open_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket | None:
        """Pick the holder by the door's rule, count the ticket, link its attachments and store it, in one write
        transaction (a line door with no line manager: nothing, None)."""
        t = ticket
        async with self._db.transaction() as conn:
            if t.door != SIGNED_IN_DOOR:
                manager = await tx_claim_line_manager(conn, t.workspace_id)
                if manager is None:
                    return None
                t = t.model_copy(update={"assignee_id": manager})
            elif auto_assign and t.assignee_id is None:
                picked = await tx_claim_least_loaded(conn, t.workspace_id, t.category_id)
                t = t.model_copy(update={"assignee_id": picked})
            elif t.assignee_id and t.status in ACTIVE:
                await tx_add_load(conn, t.workspace_id, t.assignee_id, 1)
            await tx_link_all(conn, t.attachments, t.client_id, None, "helpdesk", t.id)
            await conn.execute(_INSERT, ticket_values(t))
        return t

    async def restore_ticket(self, ticket: Ticket) -> None:
        """Store an exported line-door ticket as it was, unless its id exists."""
        await self._db.execute(f"{_INSERT} ON CONFLICT (id) DO NOTHING", ticket_values(ticket))

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket; ``NotFound`` if unknown."""
        row = await self._db.fetch_one(f"SELECT {TICKET} FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise NotFound("no such ticket", {"ticket_id": ticket_id})
        return ticket_of(row)

    async def get_line_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None:
        """Return one line-door ticket of the workspace, or None."""
        row = await self._db.fetch_one(
            f"SELECT {TICKET} FROM tickets WHERE id = ? AND workspace_id = ? AND {NOT_SIGNED_IN}",
            (ticket_id, workspace_id),
        )
        return ticket_of(row) if row else None

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query``, newest first, after a cursor position."""
        where, params = ticket_where(query, after)
        rows = await self._db.fetch_all(
            f"SELECT {TICKET} FROM tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [ticket_of(r) for r in rows]

    async def list_line_tickets(
        self, workspace_id: str, product: str | None = None, client_id: str | None = None
    ) -> list[Ticket]:
        """Return the workspace's line-door tickets (of ``product``, of ``client_id``, when given), oldest first."""
        where, params = [f"workspace_id = ? AND {NOT_SIGNED_IN}"], [workspace_id]
        for column, value in (("product", product), ("client_id", client_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = await self._db.fetch_all(
            f"SELECT {TICKET} FROM tickets WHERE {' AND '.join(where)} ORDER BY created_at, id", params
        )
        return [ticket_of(r) for r in rows]

    async def line_ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every line-door ticket of the workspace."""
        rows = await self._db.fetch_all(
            f"SELECT id FROM tickets WHERE workspace_id = ? AND {NOT_SIGNED_IN}", (workspace_id,)
        )
        return [row["id"] for row in rows]

    async def tickets_ahead(self, ticket: Ticket) -> int:
        """Return how many open tickets of the same holder and workspace were created before ``ticket``."""
        row = await self._db.fetch_one(
            f"SELECT COUNT(*) AS n FROM tickets WHERE workspace_id = ? AND assignee_id = ? AND {NOT_SIGNED_IN} "
            "AND status != 'closed' AND (created_at, id) < (?, ?)",
            (ticket.workspace_id, ticket.assignee_id, iso(ticket.created_at), ticket.id),
        )
        return int(row["n"]) if row else 0

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``, and its holder's count with it, in one transaction.

        A signed-in ticket made active again whose assignee is no longer a member becomes unassigned in the same
        step.
        """
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                f"UPDATE tickets SET status = ?, updated_at = ? WHERE id = ? AND status = ? RETURNING {TICKET}",
                (status.value, iso(now), ticket_id, expected.value),
            )
            if row is None:
                return None
            changed = ticket_of(row)
            was, became = expected in ACTIVE, status in ACTIVE
            if changed.assignee_id and was != became:
                counted = await _move(conn, changed, changed.assignee_id, 1 if became else -1)
                if became and not counted and changed.door == SIGNED_IN_DOOR:  # its assignee left: nobody's now
                    row = await tx_fetch_one(
                        conn, f"UPDATE tickets SET assignee_id = NULL WHERE id = ? RETURNING {TICKET}", (ticket_id,)
                    )
                    changed = ticket_of(row)
        return changed

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if still ``expected``'s, moving its count too, in one transaction.

        ``Conflict`` (nothing written) if the ticket is active and ``assignee_id`` has no member row any more.
        """
        async with self._db.transaction() as conn:
            row: Any = await tx_fetch_one(
                conn,
                "UPDATE tickets SET assignee_id = ?, updated_at = ? WHERE id = ? AND assignee_id IS ? "
                f"AND (door = '{SIGNED_IN_DOOR}' OR status = 'open') RETURNING {TICKET}",
                (assignee_id, iso(now), ticket_id, expected),
            )
            if row is None:
                return None
            changed = ticket_of(row)
            if changed.status in ACTIVE and expected != assignee_id:
                if not await _move(conn, changed, assignee_id, 1):  # rolls the ticket back too
                    raise Conflict("the assignee is no longer a member of the workspace", {"assignee_id": assignee_id})
                if expected:
                    await _move(conn, changed, expected, -1)
        return changed
