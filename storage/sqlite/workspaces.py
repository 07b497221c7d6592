"""Workspaces and their members on SQLite.

Adding, removing or deleting members also writes the helpdesk tickets they hold (see
``storage.sqlite.member_loads``) in the same ``BEGIN IMMEDIATE`` transaction, so each member's
``load`` stays the number of active tickets assigned to them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.errors import NotFound
from models.tickets import Handover
from models.widget import new_widget_token
from models.workspaces import Member, Workspace, WorkspaceRecord
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.member_loads import tx_active_count, tx_release_member, tx_release_workspace
from storage.sqlite.members import LINE_ONLY, LINE_ONLY_AGAIN, STAFF, add_columns, init_members
from storage.sqlite.ticket_tables import init_tickets

SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    products TEXT NOT NULL,
    auto_assign INTEGER NOT NULL,
    key_hash TEXT NOT NULL,
    key_hint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    widget_token TEXT,
    widget_origins TEXT NOT NULL DEFAULT '[]',
    identity_secret TEXT,
    widget_color TEXT,
    widget_title TEXT
);
CREATE INDEX IF NOT EXISTS workspaces_created ON workspaces (created_at, id)
"""
_WS = (
    "id, name, products, auto_assign, key_hash, key_hint, created_at, updated_at, "
    "widget_token, widget_origins, identity_secret, widget_color, widget_title"
)
# Columns a database made before widget tokens lacks (added by ``init``).
_WIDGET_COLUMNS = {
    "widget_token": "TEXT",
    "widget_origins": "TEXT NOT NULL DEFAULT '[]'",
    "identity_secret": "TEXT",
    "widget_color": "TEXT",
    "widget_title": "TEXT",
}
_MEMBER = "workspace_id, user_id, role, categories, load, created_at"


def _record(row: Any) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=row["id"],
        name=row["name"],
        products=json.loads(row["products"]),
        auto_assign=bool(row["auto_assign"]),
        key_hash=row["key_hash"],
        key_hint=row["key_hint"],
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
        widget_token=row["widget_token"],
        widget_origins=json.loads(row["widget_origins"]),
        identity_secret=row["identity_secret"],
        widget_color=row["widget_color"],
        widget_title=row["widget_title"],
    )


def _public(record: WorkspaceRecord) -> Workspace:
    return Workspace.model_validate(record.model_dump(exclude={"key_hash"}))


def _member(row: Any) -> Member:
    return Member(
        workspace_id=row["workspace_id"],
        user_id=row["user_id"],
        role=row["role"],
        categories=json.loads(row["categories"]),
        load=row["load"],
        created_at=from_iso(row["created_at"]),
    )


class SqliteWorkspaceStore:
    """Workspaces in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the workspace and member tables, and the ticket tables whose tickets members hold, if missing."""
        await self._db.create_schema(SCHEMA)
        await init_members(self._db)
        await init_tickets(self._db)
        async with self._db.transaction() as conn:  # write-locked: two processes do not both add a column
            await add_columns(conn, "workspaces", _WIDGET_COLUMNS)  # a table made before widget tokens
            await conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS workspaces_widget_token ON workspaces (widget_token)")
        for row in await self._db.fetch_all("SELECT id FROM workspaces WHERE widget_token IS NULL"):
            await self.set_widget_token(row["id"], new_widget_token(), None)

    async def create(self, record: WorkspaceRecord) -> Workspace:
        """Store a new workspace."""
        await self._db.execute(
            f"INSERT INTO workspaces ({_WS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.name,
                json.dumps(record.products),
                int(record.auto_assign),
                record.key_hash,
                record.key_hint,
                iso(record.created_at),
                iso(record.updated_at),
                record.widget_token,
                json.dumps(record.widget_origins),
                record.identity_secret,
                record.widget_color,
                record.widget_title,
            ),
        )
        return _public(record)

    async def find(self, workspace_id: str) -> WorkspaceRecord | None:
        """Return one workspace with its key hash, or None."""
        row = await self._db.fetch_one(f"SELECT {_WS} FROM workspaces WHERE id = ?", (workspace_id,))
        return _record(row) if row else None

    async def get(self, workspace_id: str) -> Workspace:
        """Return one workspace; ``NotFound`` if unknown."""
        record = await self.find(workspace_id)
        if record is None:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return _public(record)

    async def list(self, after: tuple[datetime, str] | None, limit: int) -> list[Workspace]:
        """Return up to ``limit`` workspaces in creation order, after a cursor position."""
        where, params = "1 = 1", []
        if after is not None:
            where, params = "(created_at, id) > (?, ?)", [iso(after[0]), after[1]]
        rows = await self._db.fetch_all(
            f"SELECT {_WS} FROM workspaces WHERE {where} ORDER BY created_at, id LIMIT ?", (*params, limit)
        )
        return [_public(_record(r)) for r in rows]

    async def update(
        self, workspace_id: str, name: str | None, products: list[str] | None, auto_assign: bool | None, now: datetime
    ) -> Workspace:
        """Change the given fields; ``NotFound`` if unknown."""
        changes: dict[str, Any] = {"updated_at": iso(now)}
        if name is not None:
            changes["name"] = name
        if products is not None:
            changes["products"] = json.dumps(products)
        if auto_assign is not None:
            changes["auto_assign"] = int(auto_assign)
        assignments = ", ".join(f"{k} = ?" for k in changes)
        changed = await self._db.execute(
            f"UPDATE workspaces SET {assignments} WHERE id = ?", (*changes.values(), workspace_id)
        )
        if not changed:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return await self.get(workspace_id)

    async def set_key(self, workspace_id: str, key_hash: str, key_hint: str, now: datetime) -> Workspace:
        """Replace the workspace's API key hash; ``NotFound`` if unknown."""
        changed = await self._db.execute(
            "UPDATE workspaces SET key_hash = ?, key_hint = ?, updated_at = ? WHERE id = ?",
            (key_hash, key_hint, iso(now), workspace_id),
        )
        if not changed:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return await self.get(workspace_id)

    async def find_by_widget_token(self, widget_token: str) -> WorkspaceRecord | None:
        """Return the workspace whose current widget token this is, or None."""
        row = await self._db.fetch_one(f"SELECT {_WS} FROM workspaces WHERE widget_token = ?", (widget_token,))
        return _record(row) if row else None

    async def set_widget_token(self, workspace_id: str, widget_token: str, now: datetime | None) -> WorkspaceRecord:
        """Replace the widget token (``now`` None: only give one to a workspace that has none); ``NotFound``."""
        if now is None:
            sql, params = "UPDATE workspaces SET widget_token = ? WHERE id = ? AND widget_token IS NULL", ()
        else:
            sql, params = "UPDATE workspaces SET widget_token = ?, updated_at = ? WHERE id = ?", (iso(now),)
        await self._db.execute(sql, (widget_token, *params, workspace_id))
        return await self._found(workspace_id)

    async def set_widget_origins(self, workspace_id: str, origins: list[str], now: datetime) -> WorkspaceRecord:
        """Replace the allowed widget origins; ``NotFound`` if unknown."""
        await self._db.execute(
            "UPDATE workspaces SET widget_origins = ?, updated_at = ? WHERE id = ?",
            (json.dumps(origins), iso(now), workspace_id),
        )
        return await self._found(workspace_id)

    async def set_widget_appearance(
        self, workspace_id: str, color: str | None, title: str | None, now: datetime
    ) -> WorkspaceRecord:
        """Replace the widget's colour and title (None: the default); ``NotFound`` if unknown."""
        await self._db.execute(
            "UPDATE workspaces SET widget_color = ?, widget_title = ?, updated_at = ? WHERE id = ?",
            (color, title, iso(now), workspace_id),
        )
        return await self._found(workspace_id)

    async def set_identity_secret(self, workspace_id: str, secret: str, now: datetime) -> WorkspaceRecord:
        """Replace the identity-verification secret; ``NotFound`` if unknown."""
        await self._db.execute(
            "UPDATE workspaces SET identity_secret = ?, updated_at = ? WHERE id = ?", (secret, iso(now), workspace_id)
        )
        return await self._found(workspace_id)

    async def _found(self, workspace_id: str) -> WorkspaceRecord:
        record = await self.find(workspace_id)
        if record is None:
            raise NotFound("no such workspace", {"workspace_id": workspace_id})
        return record

    async def delete(self, workspace_id: str, now: datetime) -> list[Handover]:
        """Delete a workspace and its members, and unassign their active tickets, in one transaction.

        Returns the tickets unassigned; ``NotFound`` (nothing written) if the workspace is unknown.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
            if not cursor.rowcount:
                raise NotFound("no such workspace", {"workspace_id": workspace_id})
            await conn.execute(
                "DELETE FROM workspace_members WHERE workspace_id = ? AND line_id IS NULL", (workspace_id,)
            )
            await conn.execute(LINE_ONLY_AGAIN + " WHERE workspace_id = ?", (workspace_id,))  # Dowell records kept
            return await tx_release_workspace(conn, workspace_id, now)

    async def put_member(self, member: Member) -> Member:
        """Add a member with its load counted from the tickets it holds, or update its role and categories."""
        m = member
        async with self._db.transaction() as conn:
            load = await tx_active_count(conn, m.workspace_id, m.user_id)
            row = await tx_fetch_one(
                conn,
                f"INSERT INTO workspace_members ({_MEMBER}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role, "
                "categories = excluded.categories, "
                f"load = CASE WHEN role = '{LINE_ONLY}' THEN excluded.load ELSE load END, "
                f"created_at = CASE WHEN role = '{LINE_ONLY}' THEN excluded.created_at ELSE created_at END "
                f"RETURNING {_MEMBER}",
                (m.workspace_id, m.user_id, m.role, json.dumps(m.categories), load, iso(m.created_at)),
            )
        return _member(row)

    async def remove_member(self, workspace_id: str, user_id: str, now: datetime) -> list[Handover]:
        """Remove a member and hand on their active tickets in one transaction; return those tickets.

        ``NotFound`` (nothing written) if the user is not a member.
        """
        async with self._db.transaction() as conn:
            where = f" WHERE workspace_id = ? AND user_id = ? AND {STAFF}"
            lined = where + " AND line_id IS NOT NULL"
            cursor = await conn.execute(LINE_ONLY_AGAIN + lined, (workspace_id, user_id))  # a line manager stays one
            if not cursor.rowcount:
                cursor = await conn.execute("DELETE FROM workspace_members" + where, (workspace_id, user_id))
            if not cursor.rowcount:
                raise NotFound("this user is not a member of the workspace", {"user_id": user_id})
            return await tx_release_member(conn, workspace_id, user_id, now)

    async def set_member_role(self, user_id: str, role: str) -> int:
        """Give every membership of the user the role in one statement; return how many changed."""
        return await self._db.execute(
            f"UPDATE workspace_members SET role = ? WHERE user_id = ? AND role != ? AND {STAFF}", (role, user_id, role)
        )

    async def get_member(self, workspace_id: str, user_id: str) -> Member | None:
        """Return one member, or None."""
        row = await self._db.fetch_one(
            f"SELECT {_MEMBER} FROM workspace_members WHERE workspace_id = ? AND user_id = ? AND {STAFF}",
            (workspace_id, user_id),
        )
        return _member(row) if row else None

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Return the workspace's members in the order they were added."""
        rows = await self._db.fetch_all(
            f"SELECT {_MEMBER} FROM workspace_members WHERE workspace_id = ? AND {STAFF} ORDER BY created_at, user_id",
            (workspace_id,),
        )
        return [_member(r) for r in rows]

    async def memberships(self, user_id: str) -> list[Member]:
        """Return every membership of a user."""
        rows = await self._db.fetch_all(
            f"SELECT {_MEMBER} FROM workspace_members WHERE user_id = ? AND {STAFF} ORDER BY created_at", (user_id,)
        )
        return [_member(r) for r in rows]
