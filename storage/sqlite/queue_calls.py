"""Queue calls and virtual numbers on SQLite: each change, with the virtual number it moves, is one transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict, Forbidden, NotFound
from models.queue import Called, QueueNumber, Service, Skipped
from storage.database import new_id
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one

OFFICE_COLUMNS = "ref, name, address, manager_id, counter, issued, epoch, created_at, deleted_at"
_SERVICE = "id, ref, epoch, number, window_number, agent_id, called_at, ended_at, outcome, recalls"
NUMBER_COLUMNS = "id, ref, epoch, number, user_id, status, taken_at, called_at, window_number, soon_notified"


def _service(row: Any) -> Service:
    return Service(
        id=row["id"],
        ref_office=row["ref"],
        epoch=row["epoch"],
        number=row["number"],
        number_window=row["window_number"],
        agent_id=row["agent_id"],
        called_at=from_iso(row["called_at"]),
        ended_at=from_iso(row["ended_at"]),
        outcome=row["outcome"],
        recalls=row["recalls"],
    )


def number_of(row: Any) -> QueueNumber:
    """Return the virtual number stored in ``row``."""
    return QueueNumber(
        id=row["id"],
        ref_office=row["ref"],
        epoch=row["epoch"],
        number=row["number"],
        user_id=row["user_id"],
        status=row["status"],
        taken_at=from_iso(row["taken_at"]),
        called_at=from_iso(row["called_at"]),
        number_window=row["window_number"],
        soon_notified=bool(row["soon_notified"]),
    )


def check_live(row: Any, ref: str) -> None:
    """Raise ``NotFound`` unless the office exists and is not deleted."""
    if row is None:
        raise NotFound(f"no office with reference {ref}", {"ref_office": ref})
    if row["deleted_at"]:
        raise NotFound(f"office {ref} was deleted", {"ref_office": ref, "deleted": True})


async def live_office(conn: aiosqlite.Connection, ref: str) -> Any:
    """Return the live office row inside a transaction, else raise ``NotFound``."""
    row = await tx_fetch_one(conn, f"SELECT {OFFICE_COLUMNS} FROM queue_offices WHERE ref = ?", (ref,))
    check_live(row, ref)
    return row


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


class SqliteQueueCalls:
    """Calling numbers at windows, recalls, no-shows, virtual numbers and service history."""

    _db: SqliteDatabase

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
                f"WHERE ref = ? AND window_number = ? AND outcome = 'serving' RETURNING {_SERVICE}",
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
                f"INSERT INTO queue_services ({_SERVICE}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'serving', 0)",
                (service.id, ref, service.epoch, service.number, number_window, agent_id, iso(now)),
            )
            await conn.execute(
                "UPDATE queue_windows SET served = served + 1, current_number = ? WHERE ref = ? AND number = ?",
                (service.number, ref, number_window),
            )
        return Called(
            service=service,
            closed=_service(closed) if closed else None,
            holder=number_of(holder) if holder else None,
        )

    async def _current_service(self, conn: aiosqlite.Connection, ref: str, number_window: int) -> Any:
        row = await tx_fetch_one(
            conn,
            f"SELECT {_SERVICE} FROM queue_services WHERE ref = ? AND window_number = ? AND outcome = 'serving' "
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
                conn, f"UPDATE queue_services SET recalls = recalls + 1 WHERE id = ? RETURNING {_SERVICE}", (row["id"],)
            )
        return _service(updated)

    async def mark_no_show(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Skipped:
        """End the window's current service, and its holder's called number, as a no-show; ``Conflict`` if none."""
        async with self._db.transaction() as conn:
            await _agent_window(conn, ref, number_window, agent_id)
            row = await self._current_service(conn, ref, number_window)
            updated = await tx_fetch_one(
                conn,
                f"UPDATE queue_services SET outcome = 'no_show', ended_at = ? WHERE id = ? RETURNING {_SERVICE}",
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
        return Skipped(service=_service(updated), holder=number_of(holder) if holder else None)

    async def take_number(self, ref: str, user_id: str, now: datetime) -> QueueNumber:
        """Issue the user the office's next number; ``Conflict`` if they already wait there."""
        async with self._db.transaction() as conn:
            office = await live_office(conn, ref)
            waiting = await tx_fetch_one(
                conn,
                "SELECT number FROM queue_numbers WHERE ref = ? AND epoch = ? AND user_id = ? AND status = 'waiting'",
                (ref, office["epoch"], user_id),
            )
            if waiting is not None:
                raise Conflict(f"you already hold number {waiting['number']} at {ref}", {"number": waiting["number"]})
            row = await tx_fetch_one(
                conn,
                "UPDATE queue_offices SET issued = MAX(issued, counter) + 1 WHERE ref = ? RETURNING issued, epoch",
                (ref,),
            )
            assert row is not None
            number = QueueNumber(
                id=new_id(), ref_office=ref, epoch=row["epoch"], number=row["issued"], user_id=user_id, taken_at=now
            )
            try:
                await conn.execute(
                    f"INSERT INTO queue_numbers ({NUMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'waiting', ?, NULL, NULL, 0)",
                    (number.id, ref, number.epoch, number.number, user_id, iso(now)),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"you already hold a number at {ref}") from exc
        return number

    async def latest_number(self, ref: str, epoch: int, user_id: str) -> QueueNumber | None:
        """Return the user's most recent number at the office in this epoch."""
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM queue_numbers WHERE ref = ? AND epoch = ? AND user_id = ? "
            "ORDER BY number DESC LIMIT 1",
            (ref, epoch, user_id),
        )
        return number_of(row) if row else None

    async def find_number(self, ref: str, epoch: int, number: int) -> QueueNumber | None:
        """Return the virtual number ``number`` of this epoch, if a client took it."""
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM queue_numbers WHERE ref = ? AND epoch = ? AND number = ?",
            (ref, epoch, number),
        )
        return number_of(row) if row else None

    async def claim_soon(self, ref: str, epoch: int, up_to: int) -> list[QueueNumber]:
        """Flag (once) and return waiting numbers up to ``up_to`` that were not yet told their turn is near."""
        async with self._db.transaction() as conn:
            rows = await tx_fetch_all(
                conn,
                "UPDATE queue_numbers SET soon_notified = 1 WHERE ref = ? AND epoch = ? AND status = 'waiting' "
                f"AND soon_notified = 0 AND number <= ? RETURNING {NUMBER_COLUMNS}",
                (ref, epoch, up_to),
            )
        return sorted((number_of(r) for r in rows), key=lambda n: n.number)

    async def recent_durations(self, ref: str, limit: int) -> list[float]:
        """Return the durations in seconds of the office's ``limit`` most recently completed services."""
        rows = await self._db.fetch_all(
            f"SELECT {_SERVICE} FROM queue_services WHERE ref = ? AND outcome = 'served' AND ended_at IS NOT NULL "
            "ORDER BY ended_at DESC LIMIT ?",
            (ref, limit),
        )
        return [d for d in (_service(r).duration_seconds for r in rows) if d is not None]

    async def services_between(self, ref: str, start: datetime, end: datetime | None) -> list[Service]:
        """Return the services called in ``[start, end)`` (``end`` None: open-ended)."""
        sql = f"SELECT {_SERVICE} FROM queue_services WHERE ref = ? AND called_at >= ?"
        params: list[Any] = [ref, iso(start)]
        if end is not None:
            sql += " AND called_at < ?"
            params.append(iso(end))
        rows = await self._db.fetch_all(sql + " ORDER BY called_at, number", params)
        return [_service(r) for r in rows]
