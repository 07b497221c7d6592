"""Clients' virtual numbers on SQLite: taking one is one transaction with the office's issued count."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from models.errors import Conflict
from models.queue import QueueNumber
from storage.database import new_id
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one
from storage.sqlite.queue import NUMBER_COLUMNS, live_office, number_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_numbers (
    id TEXT PRIMARY KEY,
    ref TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    number INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    called_at TEXT,
    window_number INTEGER,
    soon_notified INTEGER NOT NULL DEFAULT 0,
    UNIQUE (ref, epoch, number)
);
CREATE UNIQUE INDEX IF NOT EXISTS queue_numbers_waiting ON queue_numbers (ref, epoch, user_id) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS queue_numbers_user ON queue_numbers (ref, epoch, user_id, number);
"""


class SqliteNumberStore:
    """Virtual numbers taken with ``take_number`` (table ``queue_numbers``)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the numbers' table if missing."""
        await self._db.create_schema(SCHEMA)

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
