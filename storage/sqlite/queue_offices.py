"""Queue offices on SQLite: offices, windows, seats, resets and the audit log, each change one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from models.errors import Conflict
from models.queue import AuditEntry, Office, Reset, Window
from storage.queue import no_window_error, office_ref, removal_entry, reset_entry, seat_entry
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one
from storage.sqlite.queue import (
    NUMBER_COLUMNS,
    OFFICE_COLUMNS,
    audit_of,
    check_live,
    live_office,
    number_of,
    office_of,
    window_of,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue_offices (
    ref TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    address TEXT,
    manager_id TEXT NOT NULL,
    counter INTEGER NOT NULL DEFAULT 0,
    issued INTEGER NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS queue_offices_manager ON queue_offices (manager_id, created_at);
CREATE TABLE IF NOT EXISTS queue_windows (
    ref TEXT NOT NULL,
    number INTEGER NOT NULL,
    agent_id TEXT,
    served INTEGER NOT NULL DEFAULT 0,
    no_shows INTEGER NOT NULL DEFAULT 0,
    current_number INTEGER,
    PRIMARY KEY (ref, number)
);
CREATE INDEX IF NOT EXISTS queue_windows_agent ON queue_windows (agent_id);
CREATE TABLE IF NOT EXISTS queue_audit (
    id TEXT PRIMARY KEY,
    ref TEXT NOT NULL,
    action TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    previous TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_audit_ref ON queue_audit (ref, at)
"""


class SqliteOfficeStore:
    """Offices with their windows, seats and audit log, in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the offices', windows', sequences' and audit tables if missing."""
        await self._db.create_schema(SCHEMA)

    async def _with_windows(self, rows: list[Any]) -> list[Office]:
        if not rows:
            return []
        refs = [r["ref"] for r in rows]
        windows = await self._db.fetch_all(
            f"SELECT * FROM queue_windows WHERE ref IN ({', '.join('?' * len(refs))}) ORDER BY number", refs
        )
        by_ref: dict[str, list[Window]] = {ref: [] for ref in refs}
        for w in windows:
            by_ref[w["ref"]].append(window_of(w))
        return [office_of(r, by_ref[r["ref"]]) for r in rows]

    async def create_office(
        self, name: str, address: str | None, windows: int, manager_id: str, now: datetime
    ) -> Office:
        """Store an office with a fresh unique reference and windows 1..``windows``."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                "INSERT INTO queue_sequences (name, value) VALUES ('office_ref', 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            )
            assert row is not None
            ref = office_ref(row["value"])
            await conn.execute(
                "INSERT INTO queue_offices (ref, name, name_lower, address, manager_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ref, name, name.casefold(), address, manager_id, iso(now)),
            )
            await conn.executemany(
                "INSERT INTO queue_windows (ref, number) VALUES (?, ?)", [(ref, n) for n in range(1, windows + 1)]
            )
        return await self.get_office(ref)

    async def get_office(self, ref: str) -> Office:
        """Return a live office with its windows; ``NotFound`` if unknown or deleted."""
        row = await self._db.fetch_one(f"SELECT {OFFICE_COLUMNS} FROM queue_offices WHERE ref = ?", (ref,))
        check_live(row, ref)
        return (await self._with_windows([row]))[0]

    async def live_offices(self, refs: list[str]) -> list[Office]:
        """Return the live offices among ``refs`` (unknown and deleted ones are left out)."""
        rows = await self._db.fetch_all(
            f"SELECT {OFFICE_COLUMNS} FROM queue_offices "
            f"WHERE deleted_at IS NULL AND ref IN ({', '.join('?' * len(refs))})",
            refs,
        )
        return await self._with_windows(rows)

    async def update_office(self, ref: str, name: str | None, address: str | None, windows: int | None) -> Office:
        """Change the given fields; ``windows`` may only grow (``Conflict`` otherwise)."""
        async with self._db.transaction() as conn:
            await live_office(conn, ref)
            if windows is not None:
                row = await tx_fetch_one(conn, "SELECT COUNT(*) AS n FROM queue_windows WHERE ref = ?", (ref,))
                have = row["n"] if row else 0
                if windows < have:
                    raise Conflict(
                        f"office {ref} has {have} windows; windows can only be added",
                        {"windows": have},
                    )
                await conn.executemany(
                    "INSERT OR IGNORE INTO queue_windows (ref, number) VALUES (?, ?)",
                    [(ref, n) for n in range(1, windows + 1)],
                )
            if name is not None:
                await conn.execute(
                    "UPDATE queue_offices SET name = ?, name_lower = ? WHERE ref = ?", (name, name.casefold(), ref)
                )
            if address is not None:
                await conn.execute("UPDATE queue_offices SET address = ? WHERE ref = ?", (address, ref))
        return await self.get_office(ref)

    async def delete_office(self, ref: str, now: datetime) -> list[str]:
        """Mark the office deleted, expire its waiting numbers and return their users."""
        async with self._db.transaction() as conn:
            await live_office(conn, ref)
            await conn.execute("UPDATE queue_offices SET deleted_at = ? WHERE ref = ?", (iso(now), ref))
            rows = await tx_fetch_all(
                conn,
                "UPDATE queue_numbers SET status = 'expired' WHERE ref = ? AND status = 'waiting' RETURNING user_id",
                (ref,),
            )
        return sorted({r["user_id"] for r in rows})

    async def offices_managed_by(self, manager_id: str) -> list[Office]:
        """Return the live offices of a manager, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {OFFICE_COLUMNS} FROM queue_offices "
            "WHERE manager_id = ? AND deleted_at IS NULL ORDER BY created_at, ref",
            (manager_id,),
        )
        return await self._with_windows(rows)

    async def offices_staffed_by(self, agent_id: str) -> list[Office]:
        """Return the live offices where an agent sits at a window."""
        rows = await self._db.fetch_all(
            f"SELECT {OFFICE_COLUMNS} FROM queue_offices WHERE deleted_at IS NULL AND ref IN "
            "(SELECT ref FROM queue_windows WHERE agent_id = ?) ORDER BY created_at, ref",
            (agent_id,),
        )
        return await self._with_windows(rows)

    async def search_offices(self, query: str, limit: int) -> list[Office]:
        """Return live offices whose name contains ``query`` (any case) or whose reference starts with it."""
        pattern = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._db.fetch_all(
            f"SELECT {OFFICE_COLUMNS} FROM queue_offices WHERE deleted_at IS NULL AND "
            "(name_lower LIKE ? ESCAPE '\\' OR ref LIKE ? ESCAPE '\\') ORDER BY name_lower, ref LIMIT ?",
            (f"%{pattern}%", f"{pattern}%", limit),
        )
        return await self._with_windows(rows)

    async def reset_counters(self, ref: str, by: str, now: datetime) -> Reset:
        """Set the counter, issued numbers and every window's counts to 0, start a new epoch, log it."""
        async with self._db.transaction() as conn:
            office = await live_office(conn, ref)
            windows = await tx_fetch_all(conn, "SELECT * FROM queue_windows WHERE ref = ? ORDER BY number", (ref,))
            entry = reset_entry(ref, by, now, office, [(w["number"], w["served"], w["no_shows"]) for w in windows])
            await conn.execute(
                "UPDATE queue_offices SET counter = 0, issued = 0, epoch = epoch + 1 WHERE ref = ?", (ref,)
            )
            await conn.execute(
                "UPDATE queue_windows SET served = 0, no_shows = 0, current_number = NULL WHERE ref = ?", (ref,)
            )
            await conn.execute(  # served, but for an unknown time: kept out of the averages
                "UPDATE queue_services SET outcome = 'served' WHERE ref = ? AND outcome = 'serving'", (ref,)
            )
            expired = await tx_fetch_all(
                conn,
                f"UPDATE queue_numbers SET status = 'expired' WHERE ref = ? AND status = 'waiting' "
                f"RETURNING {NUMBER_COLUMNS}",
                (ref,),
            )
            await self._insert_audit(conn, entry)
        return Reset(entry=entry, expired=sorted((number_of(r) for r in expired), key=lambda n: n.number))

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
        return [audit_of(r) for r in rows]
