"""Ticket activity reads on SQLite (the unified ``tickets`` and ``ticket_messages`` tables), and the record of
when each ticket became resolved or closed (``ticket_resolutions``)."""

from __future__ import annotations

from datetime import datetime

from models.helpdesk_stats import STAFF_AUTHOR_ROLES, TicketResolution, TicketTimes
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS ticket_resolutions (
    ticket_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL
)
"""

_STAFF = ", ".join(f"'{role}'" for role in STAFF_AUTHOR_ROLES)
_COLUMNS = f"""t.id, t.assignee_id, t.status, t.created_at, COALESCE(r.at, t.updated_at) AS done_at,
    (SELECT MIN(m.created_at) FROM ticket_messages m WHERE m.ticket_id = t.id AND m.author_role IN ({_STAFF}))
        AS first_response_at
FROM tickets t LEFT JOIN ticket_resolutions r ON r.ticket_id = t.id AND r.status = t.status"""
# Tickets created in the range, and done ones touched since its start (done_at <= updated_at): a bounded superset.
_TIMES = f"""
SELECT {_COLUMNS} WHERE t.workspace_id = ? AND t.created_at >= ? AND t.created_at < ?
UNION
SELECT {_COLUMNS} WHERE t.workspace_id = ? AND t.status IN ('resolved', 'closed') AND t.updated_at >= ?
    AND t.created_at < ?
LIMIT ?
"""


class SqliteHelpdeskStatsStore:
    """Reads over the indexes of the ticket tables (``tickets_workspace``, ``ticket_messages_ticket``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the resolution record if missing (the ticket tables belong to the ticket stores)."""
        await self._db.create_schema(SCHEMA)

    async def ticket_times(self, workspace_id: str, start: datetime, end: datetime, limit: int) -> list[TicketTimes]:
        """Return up to ``limit`` tickets created in ``[start, end)`` or now resolved/closed and touched since
        ``start``."""
        span = (workspace_id, iso(start), iso(end))
        rows = await self._db.fetch_all(_TIMES, (*span, *span, limit))
        return [
            TicketTimes(
                ticket_id=row["id"],
                assignee_id=row["assignee_id"],
                status=row["status"],
                created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
                done_at=from_iso(row["done_at"]),  # type: ignore[arg-type]
                first_response_at=from_iso(row["first_response_at"]),
            )
            for row in rows
        ]

    async def record_done(self, ticket_id: str, workspace_id: str, status: str, at: datetime) -> None:
        """Remember that the ticket became ``status`` (resolved or closed) at ``at``."""
        await self._db.execute(
            "INSERT INTO ticket_resolutions (ticket_id, workspace_id, status, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (ticket_id) DO UPDATE SET status = excluded.status, at = excluded.at",
            (ticket_id, workspace_id, status, iso(at)),
        )

    async def forget_done(self, ticket_id: str) -> None:
        """Forget the ticket's record (it was reopened)."""
        await self._db.execute("DELETE FROM ticket_resolutions WHERE ticket_id = ?", (ticket_id,))

    async def list_done(self, workspace_id: str) -> list[TicketResolution]:
        """Return the resolution records of the workspace's tickets, by ticket id."""
        rows = await self._db.fetch_all(
            "SELECT ticket_id, workspace_id, status, at FROM ticket_resolutions WHERE workspace_id = ? "
            "ORDER BY ticket_id",
            (workspace_id,),
        )
        return [
            TicketResolution(
                ticket_id=row["ticket_id"],
                workspace_id=row["workspace_id"],
                status=row["status"],
                at=from_iso(row["at"]),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    async def backlog(self, workspace_id: str) -> list[tuple[str | None, str, int]]:
        """Return ``(assignee_id, status, count)`` of the workspace's tickets that are not closed, now."""
        rows = await self._db.fetch_all(
            "SELECT assignee_id, status, COUNT(*) AS n FROM tickets WHERE workspace_id = ? AND status != 'closed' "
            "GROUP BY assignee_id, status",
            (workspace_id,),
        )
        return [(row["assignee_id"], row["status"], row["n"]) for row in rows]
