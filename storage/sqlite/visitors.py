"""Widget visitors on SQLite."""

from __future__ import annotations

from typing import Any

from models.widget import TicketRating, VisitorRecord
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
CREATE UNIQUE INDEX IF NOT EXISTS widget_visitors_identifier ON widget_visitors (workspace_id, identifier);
CREATE TABLE IF NOT EXISTS widget_sends (
    workspace_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, visitor_id, client_id)
);
CREATE TABLE IF NOT EXISTS widget_contacts (
    workspace_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (workspace_id, visitor_id)
);
CREATE TABLE IF NOT EXISTS widget_ratings (
    ticket_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    score INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
)
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

    async def claim_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> str:
        """Record the client id's message id unless recorded already; return the one recorded first."""
        await self._db.execute(
            "INSERT INTO widget_sends (workspace_id, visitor_id, client_id, message_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (workspace_id, visitor_id, client_id) DO NOTHING",
            (workspace_id, visitor_id, client_id, message_id),
        )
        row = await self._db.fetch_one(
            "SELECT message_id FROM widget_sends WHERE workspace_id = ? AND visitor_id = ? AND client_id = ?",
            (workspace_id, visitor_id, client_id),
        )
        return str(row["message_id"]) if row else message_id

    async def release_send(self, workspace_id: str, visitor_id: str, client_id: str, message_id: str) -> None:
        """Forget a claim whose message could not be stored."""
        await self._db.execute(
            "DELETE FROM widget_sends WHERE workspace_id = ? AND visitor_id = ? AND client_id = ? AND message_id = ?",
            (workspace_id, visitor_id, client_id, message_id),
        )

    async def set_email(self, workspace_id: str, visitor_id: str, email: str) -> None:
        """Store the address the visitor left for replies."""
        await self._db.execute(
            "INSERT INTO widget_contacts (workspace_id, visitor_id, email) VALUES (?, ?, ?) "
            "ON CONFLICT (workspace_id, visitor_id) DO UPDATE SET email = excluded.email",
            (workspace_id, visitor_id, email),
        )

    async def get_email(self, workspace_id: str, visitor_id: str) -> str | None:
        """Return the address the visitor left for replies, or None."""
        row = await self._db.fetch_one(
            "SELECT email FROM widget_contacts WHERE workspace_id = ? AND visitor_id = ?", (workspace_id, visitor_id)
        )
        return str(row["email"]) if row else None

    async def add_rating(self, rating: TicketRating) -> bool:
        """Store the rating of a ticket; False when the ticket has one already."""
        r = rating
        return bool(
            await self._db.execute(
                "INSERT INTO widget_ratings (ticket_id, workspace_id, visitor_id, score, comment, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING",
                (r.ticket_id, r.workspace_id, r.visitor_id, r.score, r.comment, iso(r.created_at)),
            )
        )

    async def get_rating(self, ticket_id: str) -> TicketRating | None:
        """Return the rating of a ticket, or None."""
        row = await self._db.fetch_one("SELECT * FROM widget_ratings WHERE ticket_id = ?", (ticket_id,))
        if row is None:
            return None
        return TicketRating.model_validate({**dict(row), "created_at": from_iso(row["created_at"])})
