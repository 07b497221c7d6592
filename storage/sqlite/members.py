"""Workspace members on SQLite: the table, and which rows are staff memberships.

A Dowell line manager is a member row with ``line_id`` set (its position in the line, serving time and
``ticket_count``: ``storage.sqlite.line_managers``). A line manager whose user is no staff member of the workspace
has role ``line_manager``: such a row grants nothing on the signed-in door, because every staff read and write
(``STAFF``) leaves it out. A staff member who is also a line manager is one row with both.
"""

from __future__ import annotations

import aiosqlite

from storage.sqlite.db import SqliteDatabase, tx_fetch_all

SCHEMA = """
CREATE TABLE IF NOT EXISTS workspace_members (
    workspace_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    categories TEXT NOT NULL,
    load INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    line_id TEXT,
    line_position INTEGER,
    serving_time REAL,
    ticket_count INTEGER NOT NULL DEFAULT 0,
    line_since TEXT,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX IF NOT EXISTS workspace_members_user ON workspace_members (user_id)
"""

# Columns a members table made before line managers were members lacks (added by ``init_members``).
_LINE_COLUMNS = {
    "line_id": "TEXT",
    "line_position": "INTEGER",
    "serving_time": "REAL",
    "ticket_count": "INTEGER NOT NULL DEFAULT 0",
    "line_since": "TEXT",
}
LINE_ONLY = "line_manager"
STAFF = f"role != '{LINE_ONLY}'"
# A staff membership of a line manager ends, the line manager stays (no staff role, categories or load).
LINE_ONLY_AGAIN = f"UPDATE workspace_members SET role = '{LINE_ONLY}', categories = '[]', load = 0"


async def add_columns(conn: aiosqlite.Connection, table: str, wanted: dict[str, str]) -> None:
    """Inside a write transaction: add the columns of ``wanted`` that ``table`` lacks."""
    columns = {row["name"] for row in await tx_fetch_all(conn, f"PRAGMA table_info({table})")}
    for name, kind in wanted.items():
        if name not in columns:
            await conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


async def init_members(db: SqliteDatabase) -> None:
    """Create the members table if missing and give an older one the line-manager columns."""
    await db.create_schema(SCHEMA)
    async with db.transaction() as conn:  # write-locked: two processes do not both add a column
        await add_columns(conn, "workspace_members", _LINE_COLUMNS)
        await conn.execute(
            "CREATE INDEX IF NOT EXISTS workspace_members_line ON workspace_members "
            "(workspace_id, ticket_count, line_position, line_since, line_id) WHERE line_id IS NOT NULL"
        )
