"""The queue's "now serving" counter on SQLite: a press or a no-show, with the number it moves, is one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict, Forbidden, NotFound
from models.queue import Called, Service, Skipped
from storage.database import new_id
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.queue import NUMBER_COLUMNS, SERVICE_COLUMNS, live_office, number_of, service_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_services (
    id TEXT PRIMARY KEY,
    ref TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    number INTEGER NOT NULL,
    window_number INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    called_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL,
    recalls INTEGER NOT NULL DEFAULT 0,
    UNIQUE (ref, epoch, number)
);
CREATE INDEX IF NOT EXISTS queue_services_called ON queue_services (ref, called_at);
CREATE INDEX IF NOT EXISTS queue_services_window ON queue_services (ref, window_number, outcome);
CREATE INDEX IF NOT EXISTS queue_services_ended ON queue_services (ref, outcome, ended_at);
"""


async def _agent_window(conn: aiosqlite.Connection, ref: str, number_window: int, agent_id: str) -> None:
    """Raise unless the office is live and ``agent_id`` sits at the window."""
    await live_office(conn, ref)
    row = await tx_fetch_one(
        conn, "SELECT agent_id FROM queue_windows WHERE ref = ? AND number = ?", (ref, number_window)
    )
    if row is None:
        raise NotFound(
            f"office {ref} has no window {number_window}", {"ref_office": ref, "number_window": number_window}
        )
    if row["agent_id"] != agent_id:
        raise Forbidden(f"you are not the agent at window {number_window}", {"number_window": number_window})


class SqliteServingCounter:
    """Calling numbers at windows, recalls, no-shows and the service history (table ``queue_services``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the services' table if missing."""
        await self._db.create_schema(SCHEMA)

    async def call_next(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Called:
        """Atomically take the office's next number for this window, record the service and call its holder."""
        async with self._db.transaction() as conn:
            await _agent_window(conn, ref, number_window, agent_id)
            row = await tx_fetch_one(
                conn, "UPDATE queue_offices SET counter = counter + 1 WHERE ref = ? RETURNING counter, epoch", (ref,)
            )
            assert row is not None
            closed = await tx_fetch_one(
                conn,
                "UPDATE queue_services SET outcome = 'served', ended_at = ? "
                f"WHERE ref = ? AND window_number = ? AND outcome = 'serving' RETURNING {SERVICE_COLUMNS}",
                (iso(now), ref, number_window),
            )
            holder = await tx_fetch_one(
                conn,
                "UPDATE queue_numbers SET status = 'called', called_at = ?, window_number = ? "
                f"WHERE ref = ? AND epoch = ? AND number = ? AND status = 'waiting' RETURNING {NUMBER_COLUMNS}",
                (iso(now), number_window, ref, row["epoch"], row["counter"]),
            )
            service = Service(
                id=new_id(),
                ref_office=ref,
                epoch=row["epoch"],
                number=row["counter"],
                number_window=number_window,
                agent_id=agent_id,
                called_at=now,
            )
            await conn.execute(
                f"INSERT INTO queue_services ({SERVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'serving', 0)",
                (service.id, ref, service.epoch, service.number, number_window, agent_id, iso(now)),
            )
            await conn.execute(
                "UPDATE queue_windows SET served = served + 1, current_number = ? WHERE ref = ? AND number = ?",
                (service.number, ref, number_window),
            )
        return Called(
            service=service,
            closed=service_of(closed) if closed else None,
            holder=number_of(holder) if holder else None,
        )

    async def _current_service(self, conn: aiosqlite.Connection, ref: str, number_window: int) -> Any:
        row = await tx_fetch_one(
            conn,
            f"SELECT {SERVICE_COLUMNS} FROM queue_services WHERE ref = ? AND window_number = ? AND outcome = 'serving' "
            "ORDER BY number DESC LIMIT 1",
            (ref, number_window),
        )
        if row is None:
            raise Conflict(f"no number is being served at window {number_window}", {"number_window": number_window})
        return row

    async def recall(self, ref: str, number_window: int, agent_id: str) -> Service:
        """Count one more announcement of the window's current number; ``Conflict`` if none."""
        async with self._db.transaction() as conn:
            await _agent_window(conn, ref, number_window, agent_id)
            row = await self._current_service(conn, ref, number_window)
            updated = await tx_fetch_one(
                conn,
                f"UPDATE queue_services SET recalls = recalls + 1 WHERE id = ? RETURNING {SERVICE_COLUMNS}",
                (row["id"],),
            )
        return service_of(updated)

    async def mark_no_show(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Skipped:
        """End the window's current service, and its holder's called number, as a no-show; ``Conflict`` if none."""
        async with self._db.transaction() as conn:
            await _agent_window(conn, ref, number_window, agent_id)
            row = await self._current_service(conn, ref, number_window)
            updated = await tx_fetch_one(
                conn,
                f"UPDATE queue_services SET outcome = 'no_show', ended_at = ? WHERE id = ? RETURNING {SERVICE_COLUMNS}",
                (iso(now), row["id"]),
            )
            holder = await tx_fetch_one(
                conn,
                "UPDATE queue_numbers SET status = 'no_show' "
                f"WHERE ref = ? AND epoch = ? AND number = ? AND status = 'called' RETURNING {NUMBER_COLUMNS}",
                (ref, row["epoch"], row["number"]),
            )
            await conn.execute(
                "UPDATE queue_windows SET served = MAX(served - 1, 0), no_shows = no_shows + 1, "
                "current_number = CASE WHEN current_number = ? THEN NULL ELSE current_number END "
                "WHERE ref = ? AND number = ?",
                (row["number"], ref, number_window),
            )
        return Skipped(service=service_of(updated), holder=number_of(holder) if holder else None)

    async def recent_durations(self, ref: str, limit: int) -> list[float]:
        """Return the durations in seconds of the office's ``limit`` most recently completed services."""
        rows = await self._db.fetch_all(
            f"SELECT {SERVICE_COLUMNS} FROM queue_services "
            "WHERE ref = ? AND outcome = 'served' AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT ?",
            (ref, limit),
        )
        return [d for d in (service_of(r).duration_seconds for r in rows) if d is not None]

    async def services_between(self, ref: str, start: datetime, end: datetime | None) -> list[Service]:
        """Return the services called in ``[start, end)`` (``end`` None: open-ended)."""
        sql = f"SELECT {SERVICE_COLUMNS} FROM queue_services WHERE ref = ? AND called_at >= ?"
        params: list[Any] = [ref, iso(start)]
        if end is not None:
            sql += " AND called_at < ?"
            params.append(iso(end))
        rows = await self._db.fetch_all(sql + " ORDER BY called_at, number", params)
        return [service_of(r) for r in rows]
