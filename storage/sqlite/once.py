"""One-time data migrations on SQLite, recorded by name in the ``migrations`` table (this module's own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiosqlite

from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one

SCHEMA = """
CREATE TABLE IF NOT EXISTS migrations (
    name TEXT PRIMARY KEY,
    at TEXT NOT NULL
)
"""


async def table_exists(conn: aiosqlite.Connection, table: str) -> bool:
    """Return whether the database has ``table`` (e.g. one today's main wrote)."""
    return (
        await tx_fetch_one(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)) is not None
    )


async def run_once(db: SqliteDatabase, name: str, step: Callable[[aiosqlite.Connection], Awaitable[None]]) -> None:
    """Run ``step`` in one write transaction unless the migration ``name`` is recorded, and record it there.

    The write lock is taken first, so two processes starting at once do not both run it.
    """
    await db.create_schema(SCHEMA)
    async with db.transaction() as conn:
        if await tx_fetch_one(conn, "SELECT 1 FROM migrations WHERE name = ?", (name,)) is not None:
            return
        await step(conn)
        await conn.execute("INSERT INTO migrations (name, at) VALUES (?, ?)", (name, iso(datetime.now(UTC))))
