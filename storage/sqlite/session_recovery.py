"""Connection-state recovery on SQLite: an AUTOINCREMENT offset (never reused after a trim)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from models.session_recovery import RequestClaim, SavedSession, StoredPacket
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS resume_packets (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    data TEXT NOT NULL,
    rooms TEXT NOT NULL,
    skip TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resume_packets_at ON resume_packets (at);
CREATE TABLE IF NOT EXISTS resume_sessions (
    pid TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resume_requests (
    pid TEXT NOT NULL,
    key TEXT NOT NULL,
    ack TEXT,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (pid, key)
)
"""

_MATCHING = """
SELECT offset, data, rooms, skip FROM resume_packets
WHERE offset > ? AND (rooms = '[]' OR EXISTS (SELECT 1 FROM json_each(resume_packets.rooms) WHERE value IN ({marks})))
ORDER BY offset
"""


def _session(body: str) -> SavedSession:
    return SavedSession(**json.loads(body))


def _moment(text: str) -> datetime:
    moment = from_iso(text)
    assert moment is not None
    return moment


class SqliteSessionRecoveryStore:
    """Persisted broadcasts, dropped sessions and retried requests in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the recovery tables if missing."""
        await self._db.create_schema(SCHEMA)

    async def add_packet(self, data: str, rooms: list[str], skip: list[str], at: datetime) -> int:
        """Persist one broadcast and return its offset."""
        row = (data, json.dumps(rooms), json.dumps(skip), iso(at))

        def insert(raw: sqlite3.Connection) -> int:
            cursor = raw.execute("INSERT INTO resume_packets (data, rooms, skip, at) VALUES (?, ?, ?, ?)", row)
            return int(cursor.lastrowid or 0)

        return await self._db.run(insert)

    async def last_offset(self) -> int:
        """Return the greatest offset handed out so far (0 if none)."""
        row = await self._db.fetch_one("SELECT seq FROM sqlite_sequence WHERE name = 'resume_packets'")
        return int(row["seq"]) if row else 0

    async def packets_after(self, offset: int, rooms: list[str], sid: str) -> list[StoredPacket]:
        """Return the packets after ``offset`` sent to any of ``rooms`` (or to everyone), not skipping ``sid``."""
        rows = await self._db.fetch_all(_MATCHING.format(marks=", ".join("?" * len(rooms)) or "NULL"), (offset, *rooms))
        found = [StoredPacket(r["offset"], r["data"], json.loads(r["rooms"]), json.loads(r["skip"])) for r in rows]
        return [packet for packet in found if sid not in packet.skip]

    async def save_session(self, session: SavedSession, expires_at: datetime) -> None:
        """Keep a dropped socket's session until ``expires_at``."""
        body = json.dumps(session.__dict__)
        await self._db.execute(
            "INSERT OR REPLACE INTO resume_sessions (pid, body, expires_at) VALUES (?, ?, ?)",
            (session.pid, body, iso(expires_at)),
        )

    async def take_session(self, pid: str, now: datetime) -> SavedSession | None:
        """Delete and return the live session of ``pid`` (one DELETE ... RETURNING: taken at most once)."""

        def take(raw: sqlite3.Connection) -> str | None:
            found = raw.execute(
                "DELETE FROM resume_sessions WHERE pid = ? AND expires_at > ? RETURNING body", (pid, iso(now))
            ).fetchone()
            return str(found[0]) if found else None

        body = await self._db.run(take)
        return _session(body) if body is not None else None

    async def kept_sessions(self, now: datetime) -> list[tuple[SavedSession, datetime]]:
        """Return every live kept session with its expiry."""
        live = "SELECT body, expires_at FROM resume_sessions WHERE expires_at > ?"
        rows = await self._db.fetch_all(live, (iso(now),))
        return [(_session(r["body"]), _moment(r["expires_at"])) for r in rows]

    async def claim_request(self, pid: str, key: str, expires_at: datetime) -> RequestClaim:
        """Insert the key unless present; if present, return its saved ack (None while the first try runs)."""

        def claim(raw: sqlite3.Connection) -> RequestClaim:
            cursor = raw.execute(
                "INSERT OR IGNORE INTO resume_requests (pid, key, expires_at) VALUES (?, ?, ?)",
                (pid, key, iso(expires_at)),
            )
            if cursor.rowcount:
                return RequestClaim(new=True)
            found = raw.execute("SELECT ack FROM resume_requests WHERE pid = ? AND key = ?", (pid, key)).fetchone()
            return RequestClaim(new=False, ack=found[0] if found else None)

        return await self._db.run(claim)

    async def finish_request(self, pid: str, key: str, ack: str) -> None:
        """Save the ack of the claimed request."""
        await self._db.execute("UPDATE resume_requests SET ack = ? WHERE pid = ? AND key = ?", (ack, pid, key))

    async def trim(self, packets_before: datetime, now: datetime) -> None:
        """Forget packets persisted before ``packets_before`` and sessions and keys expired at ``now``."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM resume_packets WHERE at < ?", (iso(packets_before),))
            await conn.execute("DELETE FROM resume_sessions WHERE expires_at <= ?", (iso(now),))
            await conn.execute("DELETE FROM resume_requests WHERE expires_at <= ?", (iso(now),))
