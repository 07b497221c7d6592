"""Member loads on SQLite, inside an open write transaction.

A workspace member's ``load`` is the number of active (open, pending) helpdesk tickets assigned to
them. These helpers move loads together with the ticket writes that change that number, so each
caller's ``BEGIN IMMEDIATE`` transaction commits or rolls back both.
"""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from models.tickets import ACTIVE, Handover, Ticket
from storage.sqlite.convert import iso
from storage.sqlite.db import tx_fetch_all, tx_fetch_one
from storage.sqlite.members import STAFF
from storage.sqlite.ticket_rows import TICKET, ticket_of

_ACTIVE = tuple(sorted(s.value for s in ACTIVE))
_IS_ACTIVE = f"door = 'signed_in' AND status IN ({', '.join('?' * len(_ACTIVE))})"


async def tx_claim_least_loaded(conn: aiosqlite.Connection, workspace_id: str, category_id: str) -> str | None:
    """Add 1 to the load of the category's least-loaded agent (ties: first added) and return their id, or None."""
    row = await tx_fetch_one(
        conn,
        """UPDATE workspace_members SET load = load + 1
        WHERE rowid = (
            SELECT rowid FROM workspace_members
            WHERE workspace_id = ? AND role = 'agent'
              AND (categories = '[]' OR EXISTS (SELECT 1 FROM json_each(categories) WHERE value = ?))
            ORDER BY load, created_at, user_id LIMIT 1
        ) RETURNING user_id""",
        (workspace_id, category_id),
    )
    return str(row["user_id"]) if row else None


async def tx_add_load(conn: aiosqlite.Connection, workspace_id: str, user_id: str, delta: int) -> bool:
    """Add ``delta`` to a member's load, never going below 0; return False if they are not a member."""
    cursor = await conn.execute(
        f"UPDATE workspace_members SET load = MAX(load + ?, 0) WHERE workspace_id = ? AND user_id = ? AND {STAFF}",
        (delta, workspace_id, user_id),
    )
    return bool(cursor.rowcount)


async def tx_active_count(conn: aiosqlite.Connection, workspace_id: str, user_id: str) -> int:
    """Return how many active tickets of the workspace are assigned to the user (their true load)."""
    row = await tx_fetch_one(
        conn,
        f"SELECT COUNT(*) AS n FROM tickets WHERE workspace_id = ? AND assignee_id = ? AND {_IS_ACTIVE}",
        (workspace_id, user_id, *_ACTIVE),
    )
    return int(row["n"]) if row else 0


async def tx_release_member(
    conn: aiosqlite.Connection, workspace_id: str, user_id: str, now: datetime
) -> list[Handover]:
    """Hand on the active tickets of a member just deleted; return them as changed, oldest first.

    With the workspace's ``auto_assign`` on, each goes to the least-loaded agent serving its category
    (who gets 1 more load); otherwise, or when no agent serves it, it becomes unassigned.
    """
    workspace = await tx_fetch_one(conn, "SELECT auto_assign FROM workspaces WHERE id = ?", (workspace_id,))
    auto_assign = bool(workspace and workspace["auto_assign"])
    handovers = []
    for ticket in await _held(conn, "assignee_id = ?", (workspace_id, user_id)):
        heir = await tx_claim_least_loaded(conn, workspace_id, ticket.category_id) if auto_assign else None
        row = await tx_fetch_one(
            conn,
            f"UPDATE tickets SET assignee_id = ?, updated_at = ? WHERE id = ? RETURNING {TICKET}",
            (heir, iso(now), ticket.id),
        )
        handovers.append(Handover(ticket_of(row), user_id))
    return handovers


async def tx_release_workspace(conn: aiosqlite.Connection, workspace_id: str, now: datetime) -> list[Handover]:
    """Unassign every assigned active ticket of a workspace whose members are gone; return them, oldest first."""
    handovers = []
    for ticket in await _held(conn, "assignee_id IS NOT NULL", (workspace_id,)):
        row = await tx_fetch_one(
            conn,
            f"UPDATE tickets SET assignee_id = NULL, updated_at = ? WHERE id = ? RETURNING {TICKET}",
            (iso(now), ticket.id),
        )
        handovers.append(Handover(ticket_of(row), str(ticket.assignee_id)))
    return handovers


async def _held(conn: aiosqlite.Connection, whose: str, params: tuple[str, ...]) -> list[Ticket]:
    """Return the workspace's active tickets matching ``whose``, oldest first (``params``: workspace id, then
    those of ``whose``)."""
    rows = await tx_fetch_all(
        conn,
        f"SELECT {TICKET} FROM tickets WHERE workspace_id = ? AND {whose} AND {_IS_ACTIVE} ORDER BY created_at, id",
        (*params, *_ACTIVE),
    )
    return [ticket_of(r) for r in rows]
