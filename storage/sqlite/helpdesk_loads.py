"""Member loads on SQLite, inside an open write transaction.

A workspace member's ``load`` is the number of active (open, pending) helpdesk tickets assigned to
them. These helpers move loads together with the ticket writes that change that number, so each
caller's ``BEGIN IMMEDIATE`` transaction commits or rolls back both.
"""

from __future__ import annotations

import aiosqlite

from storage.sqlite.db import tx_fetch_one


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
        "UPDATE workspace_members SET load = MAX(load + ?, 0) WHERE workspace_id = ? AND user_id = ?",
        (delta, workspace_id, user_id),
    )
    return bool(cursor.rowcount)
