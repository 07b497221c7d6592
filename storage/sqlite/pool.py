"""The pull-assignment pool on SQLite.

Every write is one ``BEGIN IMMEDIATE`` transaction, which holds the database's single
write lock across processes: the claim reads the agent's holdings and takes the oldest
unassigned tickets in the same transaction, so no other writer (in this process or any
other on the same file) can slip in between. ``pool_counts`` is kept exact in the same
transactions, so counting never scans the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict
from models.pool import Claim, Customer, NewPoolTicket, PoolCounts, PoolStatus, PoolTicket
from storage.database import new_id
from storage.pool import Clock, sale_failures, sale_refused
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_all, tx_fetch_one

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

_COLUMNS = (
    "id, title, details, priority, status, agent_id, created_at, assigned_at, sold_at, customer_name, customer_email"
)
_ORDER = "ORDER BY created_at, id"
_HELD = f"SELECT {_COLUMNS} FROM pool_tickets WHERE agent_id = ? AND status = 'assigned' {_ORDER}"
_CLAIM = f"""
UPDATE pool_tickets SET status = 'assigned', agent_id = ?, assigned_at = ?
WHERE id IN (SELECT id FROM pool_tickets WHERE status = 'unassigned' {_ORDER} LIMIT ?)
  AND status = 'unassigned' AND agent_id IS NULL
RETURNING id
"""
_MOVE = "UPDATE pool_counts SET n = n + CASE status WHEN ? THEN ? WHEN ? THEN ? ELSE 0 END"


def _ticket(row: Any) -> PoolTicket:
    customer = None
    if row["customer_email"] is not None:
        customer = Customer(name=row["customer_name"], email=row["customer_email"])
    return PoolTicket(
        id=row["id"],
        title=row["title"],
        details=row["details"],
        priority=row["priority"],
        status=row["status"],
        agent_id=row["agent_id"],
        created_at=from_iso(row["created_at"]),
        assigned_at=from_iso(row["assigned_at"]),
        sold_at=from_iso(row["sold_at"]),
        customer=customer,
    )


async def _move(conn: aiosqlite.Connection, source: PoolStatus, target: PoolStatus, n: int) -> None:
    """Move ``n`` tickets from one status count to another, inside the open transaction."""
    await conn.execute(_MOVE, (source.value, -n, target.value, n))


class SqlitePoolStore:
    """Pool tickets in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the pool tables if missing."""
        await self._db.create_schema(SCHEMA)

    async def add_tickets(self, tickets: list[NewPoolTicket], clock: Clock) -> list[str]:
        """Store new unassigned tickets in one transaction; return their ids in creation order."""
        ids = sorted(new_id() for _ in tickets)
        async with self._db.transaction() as conn:
            now = iso(clock())
            await conn.executemany(
                "INSERT INTO pool_tickets (id, title, details, priority, status, created_at)"
                " VALUES (?, ?, ?, ?, 'unassigned', ?)",
                [(i, t.title, t.details, t.priority.value, now) for i, t in zip(ids, tickets, strict=True)],
            )
            await conn.execute("UPDATE pool_counts SET n = n + ? WHERE status = 'unassigned'", (len(ids),))
        return ids

    async def claim_unassigned(self, agent_id: str, limit: int, clock: Clock) -> Claim:
        """Count the agent's unsold tickets and claim the oldest unassigned ones in one transaction."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn, "SELECT count(*) AS n FROM pool_tickets WHERE agent_id = ? AND status = 'assigned'", (agent_id,)
            )
            held = int(row["n"]) if row else 0
            claimed = 0
            if held < limit:
                taken = await tx_fetch_all(conn, _CLAIM, (agent_id, iso(clock()), limit - held))
                claimed = len(taken)
                if claimed:
                    await _move(conn, PoolStatus.UNASSIGNED, PoolStatus.ASSIGNED, claimed)
            rows = await tx_fetch_all(conn, _HELD, (agent_id,))
        return Claim(tickets=[_ticket(r) for r in rows], claimed=claimed, held_before=held)

    async def sell(self, agent_id: str, ticket_ids: list[str], customer: Customer, clock: Clock) -> list[PoolTicket]:
        """Check every id and mark them all sold in one transaction, or roll back and raise."""
        marks = ", ".join("?" * len(ticket_ids))
        async with self._db.transaction() as conn:
            rows = await tx_fetch_all(
                conn, f"SELECT id, agent_id, status FROM pool_tickets WHERE id IN ({marks})", ticket_ids
            )
            found = {r["id"]: (r["agent_id"], PoolStatus(r["status"])) for r in rows}
            failures = sale_failures(ticket_ids, found, agent_id)
            if failures:
                raise sale_refused(failures)
            cursor = await conn.execute(
                "UPDATE pool_tickets SET status = 'sold', sold_at = ?, customer_name = ?, customer_email = ?"
                f" WHERE id IN ({marks}) AND agent_id = ? AND status = 'assigned'",
                (iso(clock()), customer.name, customer.email, *ticket_ids, agent_id),
            )
            if cursor.rowcount != len(ticket_ids):
                raise Conflict("the tickets changed during the sale; nothing was sold")
            await _move(conn, PoolStatus.ASSIGNED, PoolStatus.SOLD, len(ticket_ids))
            rows = await tx_fetch_all(
                conn, f"SELECT {_COLUMNS} FROM pool_tickets WHERE id IN ({marks}) {_ORDER}", ticket_ids
            )
        return [_ticket(r) for r in rows]

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
        """Return the per-status counts kept by every write."""
        rows = await self._db.fetch_all("SELECT status, n FROM pool_counts")
        return PoolCounts.model_validate({r["status"]: r["n"] for r in rows})
