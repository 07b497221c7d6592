"""Dowell line managers on SQLite: workspace member rows with a place in the line (``storage.sqlite.members``).

A line manager's user id need not be an account: then its row has role ``line_manager`` and grants nothing on
the signed-in door. ``ticket_count`` is the Dowell load (its open Dowell and widget tickets, starting at the count
it was created with), not the helpdesk ``load``. ``migrate_line_managers`` copies today's
``support_line_managers`` rows once into the members table (recorded in ``migrations``).
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from models.errors import Conflict
from models.support import LineManager
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.members import LINE_ONLY, init_members
from storage.sqlite.once import run_once, table_exists

MIGRATION = "line-managers-one"
COLUMNS = (
    "line_id AS id, workspace_id, user_id, line_position AS positions_in_a_line, "
    "serving_time AS average_serving_time, ticket_count, line_since AS created_at"
)
# A new row (no staff membership) or the line fields of a staff row that has none yet; else nothing.
_PUT = f"""INSERT INTO workspace_members (workspace_id, user_id, role, categories, load, created_at,
    line_id, line_position, serving_time, ticket_count, line_since)
    VALUES (?, ?, '{LINE_ONLY}', '[]', 0, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (workspace_id, user_id) DO UPDATE SET line_id = excluded.line_id,
    line_position = excluded.line_position, serving_time = excluded.serving_time,
    ticket_count = excluded.ticket_count, line_since = excluded.line_since
    WHERE workspace_members.line_id IS NULL"""
_COPY = f"""INSERT INTO workspace_members (workspace_id, user_id, role, categories, load, created_at,
    line_id, line_position, serving_time, ticket_count, line_since)
    SELECT workspace_id, user_id, '{LINE_ONLY}', '[]', 0, created_at,
    id, positions_in_a_line, average_serving_time, ticket_count, created_at FROM support_line_managers WHERE true
    ON CONFLICT (workspace_id, user_id) DO UPDATE SET line_id = excluded.line_id,
    line_position = excluded.line_position, serving_time = excluded.serving_time,
    ticket_count = excluded.ticket_count, line_since = excluded.line_since
    WHERE workspace_members.line_id IS NULL"""


def line_manager_of(row: Any) -> LineManager:
    """Return the line manager stored in a member ``row`` selected with ``COLUMNS``."""
    return LineManager.model_validate({**dict(row), "created_at": from_iso(row["created_at"])})


async def migrate_line_managers(db: SqliteDatabase) -> None:
    """Give the members table its line columns, then copy ``support_line_managers`` into it once."""
    await init_members(db)

    async def copy(conn: aiosqlite.Connection) -> None:
        if await table_exists(conn, "support_line_managers"):
            await conn.execute(_COPY)

    await run_once(db, MIGRATION, copy)


async def put_line_manager(db: SqliteDatabase, manager: LineManager) -> None:
    """Store a line manager (on its user's staff row if it has one); ``Conflict`` if the workspace has one for
    that user already."""
    m = manager
    at = iso(m.created_at)
    values = (m.workspace_id, m.user_id, at, m.id, m.positions_in_a_line, m.average_serving_time, m.ticket_count, at)
    if not await db.execute(_PUT, values):
        raise Conflict(f"User {m.user_id} already exists")


async def tx_claim_line_manager(conn: aiosqlite.Connection, workspace_id: str) -> str | None:
    """Add 1 to the ``ticket_count`` of the workspace's least-loaded line manager (then by position in the line,
    creation, id) and return its user id, or None if the workspace has none."""
    row = await tx_fetch_one(
        conn,
        """UPDATE workspace_members SET ticket_count = ticket_count + 1
        WHERE rowid = (
            SELECT rowid FROM workspace_members WHERE workspace_id = ? AND line_id IS NOT NULL
            ORDER BY ticket_count, line_position, line_since, line_id LIMIT 1
        ) RETURNING user_id""",
        (workspace_id,),
    )
    return str(row["user_id"]) if row else None


async def tx_move_count(conn: aiosqlite.Connection, workspace_id: str, user_id: str | None, delta: int) -> bool:
    """Add ``delta`` to a member's ``ticket_count`` (never below 0); return False if there is no such row."""
    if user_id is None:
        return False
    cursor = await conn.execute(
        "UPDATE workspace_members SET ticket_count = MAX(ticket_count + ?, 0) WHERE workspace_id = ? AND user_id = ?",
        (delta, workspace_id, user_id),
    )
    return bool(cursor.rowcount)


class SqliteLineManagerStore:
    """The Dowell line managers in the embedded database (member rows with line fields)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Give the members table its line columns, then migrate ``support_line_managers`` once."""
        await migrate_line_managers(self._db)

    async def create(self, manager: LineManager) -> LineManager:
        """Store a line manager (a member row); ``Conflict`` if the workspace has one for that user."""
        await put_line_manager(self._db, manager)
        return manager

    async def list_in_line(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""
        rows = await self._db.fetch_all(
            f"SELECT {COLUMNS} FROM workspace_members WHERE workspace_id = ? AND line_id IS NOT NULL "
            "ORDER BY line_position, line_since, line_id",
            (workspace_id,),
        )
        return [line_manager_of(r) for r in rows]

    async def get(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""
        row = await self._db.fetch_one(
            f"SELECT {COLUMNS} FROM workspace_members WHERE workspace_id = ? AND user_id = ? AND line_id IS NOT NULL",
            (workspace_id, user_id),
        )
        return line_manager_of(row) if row else None
