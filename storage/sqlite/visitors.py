"""Widget visitors on SQLite."""

from __future__ import annotations

from typing import Any

from models.widget import VisitorRecord
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS widget_visitors (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    identifier TEXT,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS widget_visitors_identifier ON widget_visitors (workspace_id, identifier)
"""

_VISITOR = "id, workspace_id, identifier, secret_hash, created_at"


def _visitor(row: Any) -> VisitorRecord:
    return VisitorRecord(
        id=row["id"],
        workspace_id=row["workspace_id"],
        identifier=row["identifier"],
        secret_hash=row["secret_hash"],
        created_at=from_iso(row["created_at"]),
    )


class SqliteVisitorStore:
    """Widget visitors in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the visitor table if missing."""
        await self._db.create_schema(SCHEMA)

    async def add(self, record: VisitorRecord) -> VisitorRecord:
        """Store a visitor, or return the workspace's visitor that already has its identifier."""
        r = record
        changed = await self._db.execute(
            f"INSERT INTO widget_visitors ({_VISITOR}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (workspace_id, identifier) DO NOTHING",
            (r.id, r.workspace_id, r.identifier, r.secret_hash, iso(r.created_at)),
        )
        if changed or r.identifier is None:
            return r
        found = await self.find_by_identifier(r.workspace_id, r.identifier)
        assert found is not None, "a visitor with this identifier exists (the insert conflicted on it)"
        return found

    async def get(self, workspace_id: str, visitor_id: str) -> VisitorRecord | None:
        """Return one visitor of the workspace, or None."""
        return await self._one("workspace_id = ? AND id = ?", (workspace_id, visitor_id))

    async def list(self, workspace_id: str) -> list[VisitorRecord]:
        """Return every visitor of the workspace, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_VISITOR} FROM widget_visitors WHERE workspace_id = ? ORDER BY created_at, id", (workspace_id,)
        )
        return [_visitor(row) for row in rows]

    async def find_by_secret(self, workspace_id: str, secret_hash: str) -> VisitorRecord | None:
        """Return the workspace's visitor holding the secret with this hash, or None."""
        return await self._one("secret_hash = ? AND workspace_id = ?", (secret_hash, workspace_id))

    async def find_by_identifier(self, workspace_id: str, identifier: str) -> VisitorRecord | None:
        """Return the workspace's visitor with this verified identifier, or None."""
        return await self._one("workspace_id = ? AND identifier = ?", (workspace_id, identifier))

    async def _one(self, where: str, params: tuple[str, ...]) -> VisitorRecord | None:
        row = await self._db.fetch_one(f"SELECT {_VISITOR} FROM widget_visitors WHERE {where}", params)
        return _visitor(row) if row else None
