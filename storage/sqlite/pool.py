"""The pull-assignment pool on SQLite.

Every write is one ``BEGIN IMMEDIATE`` transaction, which holds the database's single
write lock across processes: the claim reads the agent's holdings and takes the oldest
unassigned tickets in the same statement, inside one transaction, so no other writer (in
this process or any other on the same file) can slip in between. ``pool_counts`` is kept
exact by triggers in the same statements, so counting never scans the table.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from models.clock import Clock
from models.errors import Conflict
from models.pool import (
    Buyer,
    Claim,
    Customer,
    Loaded,
    NewPoolTicket,
    PoolCounts,
    PoolStatus,
    PoolTicket,
    Released,
    Sold,
)
from storage.database import new_id
from storage.pool import sale_failures, sale_refused
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS pool_tickets (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    details TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id TEXT,
    created_at TEXT NOT NULL,
    assigned_at TEXT,
    sold_at TEXT,
    customer_name TEXT,
    customer_email TEXT
);
CREATE INDEX IF NOT EXISTS pool_tickets_status ON pool_tickets (status, created_at, id);
CREATE INDEX IF NOT EXISTS pool_tickets_agent ON pool_tickets (agent_id, status, created_at, id);
CREATE INDEX IF NOT EXISTS pool_tickets_created ON pool_tickets (created_at, id);
CREATE TABLE IF NOT EXISTS pool_counts (
    status TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT OR IGNORE INTO pool_counts (status, n) VALUES ('unassigned', 0), ('assigned', 0), ('sold', 0)
"""

# The per-status counts follow every row change in the same statement (one statement each:
# the bodies hold semicolons, so they are not part of the split SCHEMA script).
TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS pool_count_insert AFTER INSERT ON pool_tickets BEGIN
        UPDATE pool_counts SET n = n + 1 WHERE status = NEW.status;
    END""",
    """CREATE TRIGGER IF NOT EXISTS pool_count_status AFTER UPDATE OF status ON pool_tickets
    WHEN OLD.status <> NEW.status BEGIN
        UPDATE pool_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE pool_counts SET n = n + 1 WHERE status = NEW.status;
    END""",
)

_COLUMNS = (
    "id, title, details, priority, status, agent_id, created_at, assigned_at, sold_at, customer_name, customer_email"
)
_ORDER = "ORDER BY created_at, id"
_AS_JSON = "json_group_array(json_object({}))".format(", ".join(f"'{c}', {c}" for c in _COLUMNS.split(", ")))
_COUNTS = "(SELECT json_group_object(status, n) FROM pool_counts) AS counts"
# Takes the oldest unassigned tickets, as many as the agent's free room (limit minus its unsold ones).
# The re-check of status and agent is belt and braces; the unary + keeps SQLite from driving the
# update by those columns' index (every unassigned row) instead of the primary key of the few ids.
_CLAIM = f"""
UPDATE pool_tickets SET status = 'assigned', agent_id = ?1, assigned_at = ?2
WHERE id IN (
    SELECT id FROM pool_tickets WHERE status = 'unassigned' {_ORDER}
    LIMIT max(0, ?3 - (SELECT count(*) FROM pool_tickets WHERE agent_id = ?1 AND status = 'assigned'))
) AND +status = 'unassigned' AND +agent_id IS NULL
"""
_HELD = f"SELECT (SELECT {_AS_JSON} FROM pool_tickets WHERE agent_id = ? AND status = 'assigned') AS tickets, {_COUNTS}"


def _ticket(row: Any) -> PoolTicket:
    customer = None
    if row["customer_email"] is not None:
        customer = Buyer(name=row["customer_name"], email=row["customer_email"])
    return PoolTicket(
        id=row["id"],
        title=row["title"],
        details=row["details"],
        priority=row["priority"],
        status=row["status"],
        agent_id=row["agent_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        assigned_at=from_iso(row["assigned_at"]),
        sold_at=from_iso(row["sold_at"]),
        customer=customer,
    )


def _tickets(text: str) -> list[PoolTicket]:
    """Parse a JSON array of ticket rows, in creation order."""
    return sorted((_ticket(r) for r in orjson.loads(text)), key=lambda t: (t.created_at, t.id))


def _counts(text: str) -> PoolCounts:
    return PoolCounts.model_validate(orjson.loads(text))


class SqlitePoolStore:
    """Pool tickets in the embedded database.

    Hot paths read their results as one JSON row per statement: aiosqlite runs SQLite on its
    own thread, and every row handed back costs a GIL round trip with the busy event loop,
    all while this process's single write transaction is held.
    """

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the pool tables and count triggers if missing."""
        await self._db.create_schema(SCHEMA)
        for trigger in TRIGGERS:
            await self._db.execute(trigger)

    async def add_tickets(self, tickets: list[NewPoolTicket], clock: Clock) -> Loaded:
        """Store new unassigned tickets in one transaction; return their ids in creation order."""
        ids = sorted(new_id() for _ in tickets)
        async with self._db.transaction() as conn:
            now = iso(clock())
            await conn.executemany(
                "INSERT INTO pool_tickets (id, title, details, priority, status, created_at)"
                " VALUES (?, ?, ?, ?, 'unassigned', ?)",
                [(i, t.title, t.details, t.priority.value, now) for i, t in zip(ids, tickets, strict=True)],
            )
            [row] = await conn.execute_fetchall(f"SELECT {_COUNTS}")
        return Loaded(ids=ids, counts=_counts(row["counts"]))

    async def claim_unassigned(self, agent_id: str, limit: int, clock: Clock) -> Claim:
        """Claim the oldest tickets up to the agent's free room and read its holdings, in one transaction."""

        def claim(conn: sqlite3.Connection) -> tuple[int, Any]:  # the clock is read under the write lock: commit order
            claimed = conn.execute(_CLAIM, (agent_id, iso(clock()), limit)).rowcount
            return claimed, conn.execute(_HELD, (agent_id,)).fetchone()

        claimed, row = await self._db.run(claim)  # one unit of the writer's next batch: no thread trip of its own
        held = _tickets(row["tickets"])
        return Claim(tickets=held, claimed=claimed, held_before=len(held) - claimed, counts=_counts(row["counts"]))

    async def sell(self, agent_id: str, ticket_ids: list[str], customer: Customer, clock: Clock) -> Sold:
        """Check every id and mark them all sold in one transaction, or roll back and raise."""
        marks = ", ".join("?" * len(ticket_ids))

        def sell(conn: sqlite3.Connection) -> Any:
            [row] = conn.execute(
                "SELECT json_group_array(json_array(id, agent_id, status)) AS found"
                f" FROM pool_tickets WHERE id IN ({marks})",
                ticket_ids,
            ).fetchall()
            found = {i: (agent, PoolStatus(status)) for i, agent, status in orjson.loads(row["found"])}
            failures = sale_failures(ticket_ids, found, agent_id)
            if failures:
                raise sale_refused(failures)
            cursor = conn.execute(
                "UPDATE pool_tickets SET status = 'sold', sold_at = ?, customer_name = ?, customer_email = ?"
                f" WHERE id IN ({marks}) AND agent_id = ? AND status = 'assigned'",
                (iso(clock()), customer.name, customer.email, *ticket_ids, agent_id),
            )
            if cursor.rowcount != len(ticket_ids):
                raise Conflict("the tickets changed during the sale; nothing was sold")
            return conn.execute(
                f"SELECT (SELECT {_AS_JSON} FROM pool_tickets WHERE id IN ({marks})) AS tickets, {_COUNTS}",
                ticket_ids,
            ).fetchone()

        row = await self._db.run(sell)
        return Sold(tickets=_tickets(row["tickets"]), counts=_counts(row["counts"]))

    async def release_held(self, agent_id: str) -> Released:
        """Return the agent's unsold tickets to the pool in one transaction."""
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "UPDATE pool_tickets SET status = 'unassigned', agent_id = NULL, assigned_at = NULL"
                " WHERE agent_id = ? AND status = 'assigned' RETURNING id",
                (agent_id,),
            )
            [row] = await conn.execute_fetchall(f"SELECT {_COUNTS}")
        return Released(ids=sorted(r["id"] for r in rows), counts=_counts(row["counts"]))

    async def list_tickets(
        self, status: PoolStatus | None, agent_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[PoolTicket]:
        """Return up to ``limit`` tickets in creation order, after a cursor position."""
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if after is not None:
            where.append("(created_at, id) > (?, ?)")
            params += [iso(after[0]), after[1]]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM pool_tickets {clause} {_ORDER} LIMIT ?", [*params, limit]
        )
        return [_ticket(r) for r in rows]

    async def counts(self) -> PoolCounts:
        """Return the per-status counts the triggers keep."""
        rows = await self._db.fetch_all("SELECT status, n FROM pool_counts")
        return PoolCounts.model_validate({r["status"]: r["n"] for r in rows})
