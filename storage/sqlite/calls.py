"""Calls on SQLite: every transition is one conditional UPDATE ... RETURNING in a write transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from models.calls import OPEN_STATES, Call, CallProtocol, CallState, EndReason, busy
from models.errors import NotFound
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    protocol TEXT NOT NULL,
    state TEXT NOT NULL,
    media TEXT,
    caller_user TEXT,
    caller_name TEXT NOT NULL,
    caller_sid TEXT NOT NULL,
    caller_instance TEXT NOT NULL,
    caller_ref TEXT,
    invited TEXT NOT NULL,
    rejected TEXT NOT NULL,
    callee_user TEXT,
    callee_sid TEXT,
    callee_instance TEXT,
    end_reason TEXT,
    ended_by TEXT,
    created_at TEXT NOT NULL,
    ring_deadline TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS calls_ringing ON calls (state, ring_deadline);
CREATE INDEX IF NOT EXISTS calls_caller_sid ON calls (caller_sid, state);
CREATE INDEX IF NOT EXISTS calls_callee_sid ON calls (callee_sid, state);
CREATE INDEX IF NOT EXISTS calls_caller_instance ON calls (caller_instance, state);
CREATE INDEX IF NOT EXISTS calls_callee_instance ON calls (callee_instance, state);
CREATE INDEX IF NOT EXISTS calls_caller_user ON calls (caller_user, state);
CREATE INDEX IF NOT EXISTS calls_callee_user ON calls (callee_user, state)
"""

_FIELDS = tuple(Call.model_fields)
_TIMES = ("created_at", "ring_deadline", "answered_at", "ended_at")
_LISTS = ("invited", "rejected")
_OPEN = tuple(s.value for s in OPEN_STATES)
_END = "state = 'ended', end_reason = ?, ended_by = ?, ended_at = ?"
# An active call holding either of two users (the parameters, twice); a NULL user never matches.
_HELD = (
    "SELECT 1 FROM calls AS held WHERE held.state = 'active'"
    " AND (held.caller_user IN (?, ?) OR held.callee_user IN (?, ?))"
)


def _row(call: Call) -> list[Any]:
    values = call.model_dump(mode="python")
    for name in _TIMES:
        values[name] = iso(values[name]) if values[name] else None
    for name in _LISTS:
        values[name] = json.dumps(values[name])
    return [values[name] for name in _FIELDS]


def _call(row: aiosqlite.Row) -> Call:
    values = dict(row)
    for name in _TIMES:
        values[name] = from_iso(values[name])
    for name in _LISTS:
        values[name] = json.loads(values[name])
    return Call.model_validate(values)


class SqliteCallStore:
    """Calls in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the calls table if missing."""
        await self._db.create_schema(SCHEMA)

    async def _write(self, sql: str, params: list[Any]) -> list[Call]:
        async with self._db.transaction() as conn:
            return [_call(row) for row in await tx_fetch_all(conn, sql + " RETURNING *", params)]

    async def create(self, call: Call) -> None:
        """Store a new call."""
        marks = ", ".join("?" * len(_FIELDS))
        await self._db.execute(f"INSERT INTO calls ({', '.join(_FIELDS)}) VALUES ({marks})", _row(call))

    async def get(self, call_id: str) -> Call:
        """Return one call; ``NotFound`` if unknown."""
        row = await self._db.fetch_one("SELECT * FROM calls WHERE id = ?", (call_id,))
        if row is None:
            raise NotFound("no such call", {"call_id": call_id})
        return _call(row)

    async def answer(self, call_id: str, user_id: str | None, sid: str, instance_id: str, now: datetime) -> Call | None:
        """ringing -> active, if still ringing before its deadline and neither party is in another active call.

        One conditional UPDATE inside ``BEGIN IMMEDIATE``: SQLite serializes writers (also across
        processes), so its ``NOT EXISTS`` sees every answer committed before it.
        """
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(conn, "SELECT caller_user FROM calls WHERE id = ?", [call_id])
            parties = [user_id, row["caller_user"] if row else None]
            rows = await tx_fetch_all(
                conn,
                "UPDATE calls SET state = 'active', callee_user = ?, callee_sid = ?, callee_instance = ?,"
                " answered_at = ? WHERE id = ? AND state = 'ringing' AND ring_deadline > ?"
                f" AND NOT EXISTS ({_HELD}) RETURNING *",
                [user_id, sid, instance_id, iso(now), call_id, iso(now), *parties, *parties],
            )
            if rows:
                return _call(rows[0])
            still = "SELECT 1 FROM calls WHERE id = ? AND state = 'ringing' AND ring_deadline > ?"
            if await tx_fetch_one(conn, still, [call_id, iso(now)]) is None:
                return None
            for party in parties:
                if party is not None and await tx_fetch_one(conn, _HELD, [party] * 4):
                    raise busy(party, call_id)
            return None

    async def reject(self, call_id: str, user_id: str) -> Call | None:
        """Add ``user_id`` to the decliners of a ringing call."""
        calls = await self._write(
            "UPDATE calls SET rejected = CASE"
            " WHEN EXISTS (SELECT 1 FROM json_each(calls.rejected) WHERE value = ?) THEN rejected"
            " ELSE json_insert(rejected, '$[#]', ?) END"
            " WHERE id = ? AND state = 'ringing'",
            [user_id, user_id, call_id],
        )
        return calls[0] if calls else None

    async def end(
        self, call_id: str, reason: EndReason, by: str | None, now: datetime, states: tuple[CallState, ...]
    ) -> Call | None:
        """Move the call to ended if it is in one of ``states``."""
        marks = ", ".join("?" * len(states))
        calls = await self._write(
            f"UPDATE calls SET {_END} WHERE id = ? AND state IN ({marks})",
            [reason.value, by, iso(now), call_id, *(s.value for s in states)],
        )
        return calls[0] if calls else None

    async def open_calls_of_socket(self, sid: str) -> list[Call]:
        """Return the ringing or active calls this socket placed or answered."""
        rows = await self._db.fetch_all(
            "SELECT * FROM calls WHERE (caller_sid = ? OR callee_sid = ?) AND state IN (?, ?)", (sid, sid, *_OPEN)
        )
        return [_call(row) for row in rows]

    async def ringing_for(self, protocol: CallProtocol, refs: list[str]) -> list[Call]:
        """Return the ringing calls of ``protocol`` inviting any of ``refs``, newest first."""
        marks = ", ".join("?" * len(refs))
        rows = await self._db.fetch_all(
            "SELECT * FROM calls WHERE state = 'ringing' AND protocol = ?"
            f" AND EXISTS (SELECT 1 FROM json_each(calls.invited) WHERE value IN ({marks}))"
            " ORDER BY created_at DESC, id DESC",
            (protocol.value, *refs),
        )
        return [_call(row) for row in rows]

    async def busy(self, user_ids: list[str]) -> set[str]:
        """Return those of ``user_ids`` who are a party of an active call."""
        if not user_ids:
            return set()
        marks = ", ".join("?" * len(user_ids))
        rows = await self._db.fetch_all(
            f"SELECT caller_user, callee_user FROM calls WHERE state = 'active'"
            f" AND (caller_user IN ({marks}) OR callee_user IN ({marks}))",
            (*user_ids, *user_ids),
        )
        return {row[k] for row in rows for k in ("caller_user", "callee_user")} & set(user_ids)

    async def expire_ringing(self, now: datetime) -> list[Call]:
        """End as missed every call ringing past its deadline."""
        return await self._write(
            f"UPDATE calls SET {_END} WHERE state = 'ringing' AND ring_deadline <= ?",
            [EndReason.MISSED.value, None, iso(now), iso(now)],
        )

    async def end_calls_of_instance(self, instance_id: str, now: datetime) -> list[Call]:
        """End every open call with a party on ``instance_id``."""
        return await self._write(
            f"UPDATE calls SET {_END} WHERE state IN (?, ?) AND (caller_instance = ? OR callee_instance = ?)",
            [EndReason.INSTANCE_LOST.value, None, iso(now), *_OPEN, instance_id, instance_id],
        )
