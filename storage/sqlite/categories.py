"""A workspace's categories on SQLite: signed-in categories and Dowell topics (``kind``) in one table.

``init`` copies the rows of the tables today's main wrote (``hd_categories``; ``support_topics`` as kind
``topic``, no description, ``updated_at`` = ``created_at``) once, in one write transaction, and records it in
``migrations``; the old tables are left in place and no longer created.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict, NotFound
from models.helpdesk import Category
from storage.categories import MIGRATION
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase
from storage.sqlite.once import run_once, table_exists

SCHEMA = """
CREATE TABLE IF NOT EXISTS categories (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'category',
    name TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (workspace_id, kind, name)
);
CREATE INDEX IF NOT EXISTS categories_created ON categories (workspace_id, kind, created_at, id)
"""

COLUMNS = "id, workspace_id, kind, name, description, created_at, updated_at"
DUPLICATE = "the workspace already has a category of that name"

_COPIES = {
    "hd_categories": f"""INSERT OR IGNORE INTO categories ({COLUMNS})
        SELECT id, workspace_id, 'category', name, description, created_at, updated_at FROM hd_categories""",
    "support_topics": f"""INSERT OR IGNORE INTO categories ({COLUMNS})
        SELECT id, workspace_id, 'topic', name, '', created_at, created_at FROM support_topics""",
}


def category_of(row: Any) -> Category:
    """Return the category stored in ``row``."""
    values = dict(row)
    values["created_at"] = from_iso(values["created_at"])
    values["updated_at"] = from_iso(values["updated_at"])
    return Category.model_validate(values)


class SqliteCategoryStore:
    """Categories (and Dowell topics) in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the categories table if missing, then copy ``hd_categories`` and ``support_topics`` once."""
        await self._db.create_schema(SCHEMA)

        async def copy(conn: aiosqlite.Connection) -> None:
            for table, statement in _COPIES.items():
                if await table_exists(conn, table):
                    await conn.execute(statement)

        await run_once(self._db, MIGRATION, copy)

    async def create(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that kind and name (any case)."""
        c = category
        try:
            await self._db.execute(
                f"INSERT INTO categories ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (c.id, c.workspace_id, c.kind, c.name, c.description, iso(c.created_at), iso(c.updated_at)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(DUPLICATE, {"name": c.name}) from exc
        return category

    async def get(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        row = await self._db.fetch_one(f"SELECT {COLUMNS} FROM categories WHERE id = ?", (category_id,))
        if row is None:
            raise NotFound("no such category", {"category_id": category_id})
        return category_of(row)

    async def list_by_name(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories of every kind, by name."""
        rows = await self._db.fetch_all(
            f"SELECT {COLUMNS} FROM categories WHERE workspace_id = ? ORDER BY name, kind, id", (workspace_id,)
        )
        return [category_of(r) for r in rows]

    async def list_kind(self, workspace_id: str, kind: str) -> list[Category]:
        """Return the workspace's categories of one kind, in creation order."""
        rows = await self._db.fetch_all(
            f"SELECT {COLUMNS} FROM categories WHERE workspace_id = ? AND kind = ? ORDER BY created_at, id",
            (workspace_id, kind),
        )
        return [category_of(r) for r in rows]

    async def update(self, category_id: str, name: str | None, description: str | None, now: datetime) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""
        changes = {k: v for k, v in {"name": name, "description": description}.items() if v is not None}
        changes["updated_at"] = iso(now)
        try:
            changed = await self._db.execute(
                f"UPDATE categories SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                (*changes.values(), category_id),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(DUPLICATE, {"name": name}) from exc
        if not changed:
            raise NotFound("no such category", {"category_id": category_id})
        return await self.get(category_id)

    async def delete(self, category_id: str) -> None:
        """Delete a category no ticket uses, in one conditional statement."""
        changed = await self._db.execute(
            "DELETE FROM categories WHERE id = ? AND NOT EXISTS (SELECT 1 FROM tickets WHERE category_id = ?)",
            (category_id, category_id),
        )
        if not changed:
            await self.get(category_id)
            raise Conflict("tickets are filed under this category", {"category_id": category_id})
