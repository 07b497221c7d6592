"""Queue seats and audit log on SQLite: who sits at which window, each change one transaction with its audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from models.queue import AuditEntry
from storage.queue import no_window_error, removal_entry, seat_entry
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one
from storage.sqlite.queue_calls import live_office


def _audit(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        ref_office=row["ref"],
        action=row["action"],
        by=row["by_user"],
        at=from_iso(row["at"]),
        previous=orjson.loads(row["previous"]),
        details=orjson.loads(row["details"]),
    )


class SqliteQueueSeats:
    """Seating and removing agents, and the audit log every office change writes to."""

    _db: SqliteDatabase

    async def _insert_audit(self, conn: aiosqlite.Connection, entry: AuditEntry) -> None:
        """Insert one audit entry inside the caller's transaction."""
        await conn.execute(
            "INSERT INTO queue_audit (id, ref, action, by_user, at, previous, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.id,
                entry.ref_office,
                entry.action,
                entry.by,
                iso(entry.at),
                orjson.dumps(entry.previous).decode(),
                orjson.dumps(entry.details).decode(),
            ),
        )

    async def assign_agent(self, ref: str, number_window: int, agent_id: str, by: str, now: datetime) -> bool:
        """Seat ``agent_id`` at the window (leaving any other window of the office) and log it; True if it is new."""
        async with self._db.transaction() as conn:
            await live_office(conn, ref)
            left = await tx_fetch_all(
                conn,
                "UPDATE queue_windows SET agent_id = NULL WHERE ref = ? AND agent_id = ? AND number != ? "
                "RETURNING number",
                (ref, agent_id, number_window),
            )
            before = await tx_fetch_one(
                conn, "SELECT agent_id FROM queue_windows WHERE ref = ? AND number = ?", (ref, number_window)
            )
            if before is None:
                await conn.execute(
                    "INSERT INTO queue_windows (ref, number, agent_id) VALUES (?, ?, ?)", (ref, number_window, agent_id)
                )
            else:
                await conn.execute(
                    "UPDATE queue_windows SET agent_id = ? WHERE ref = ? AND number = ?", (agent_id, ref, number_window)
                )
            replaced = before["agent_id"] if before else None
            left_numbers = sorted(r["number"] for r in left)
            entry = seat_entry(ref, number_window, agent_id, by, now, replaced, left_numbers, before is None)
            await self._insert_audit(conn, entry)
        return before is None

    async def remove_agent(self, ref: str, agent_id: str, by: str, now: datetime) -> list[int]:
        """Take the agent off every window of the office and log it; return the windows they left.

        ``no_window_error`` (nothing written) when the removal frees no window, however the
        caller's earlier read looked: the check is the removal's own result.
        """
        async with self._db.transaction() as conn:
            await live_office(conn, ref)
            rows = await tx_fetch_all(
                conn,
                "UPDATE queue_windows SET agent_id = NULL WHERE ref = ? AND agent_id = ? RETURNING number",
                (ref, agent_id),
            )
            windows = sorted(r["number"] for r in rows)
            if not windows:  # raised inside the transaction: it rolls back, no audit entry
                raise no_window_error(ref, agent_id)
            await self._insert_audit(conn, removal_entry(ref, agent_id, by, now, windows))
        return windows

    async def audit(self, ref: str, limit: int) -> list[AuditEntry]:
        """Return the office's newest ``limit`` audit entries, newest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM queue_audit WHERE ref = ? ORDER BY at DESC, id DESC LIMIT ?", (ref, limit)
        )
        return [_audit(r) for r in rows]
