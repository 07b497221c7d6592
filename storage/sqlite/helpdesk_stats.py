"""Ticket activity reads on SQLite (the unified ``tickets`` and ``ticket_messages`` tables)."""

from __future__ import annotations

from datetime import datetime

from models.helpdesk_stats import STAFF_AUTHOR_ROLES, TicketTimes
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

_STAFF = ", ".join(f"'{role}'" for role in STAFF_AUTHOR_ROLES)
_TIMES = f"""
SELECT t.id, t.assignee_id, t.status, t.created_at, t.updated_at,
    (SELECT MIN(m.created_at) FROM ticket_messages m WHERE m.ticket_id = t.id AND m.author_role IN ({_STAFF}))
        AS first_response_at
FROM tickets t
WHERE t.workspace_id = ? AND t.created_at >= ? AND t.created_at < ?
UNION
SELECT t.id, t.assignee_id, t.status, t.created_at, t.updated_at,
    (SELECT MIN(m.created_at) FROM ticket_messages m WHERE m.ticket_id = t.id AND m.author_role IN ({_STAFF}))
FROM tickets t
WHERE t.workspace_id = ? AND t.status IN ('resolved', 'closed') AND t.updated_at >= ? AND t.updated_at < ?
LIMIT ?
"""


class SqliteHelpdeskStatsStore:
    """Reads over the indexes of the ticket tables (``tickets_workspace``, ``ticket_messages_ticket``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Nothing to create: the ticket tables and their indexes belong to the ticket stores."""

    async def ticket_times(self, workspace_id: str, start: datetime, end: datetime, limit: int) -> list[TicketTimes]:
        """Return up to ``limit`` tickets created in ``[start, end)`` or resolved/closed with ``updated_at`` in it."""
        span = (workspace_id, iso(start), iso(end))
        rows = await self._db.fetch_all(_TIMES, (*span, *span, limit))
        return [
            TicketTimes(
                ticket_id=row["id"],
                assignee_id=row["assignee_id"],
                status=row["status"],
                created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
                updated_at=from_iso(row["updated_at"]),  # type: ignore[arg-type]
                first_response_at=from_iso(row["first_response_at"]),
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
