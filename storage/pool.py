"""Pull-assignment pool repository: load, claim (FIFO, capped per agent), sell, list, count."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from models.clock import Clock
from models.errors import Conflict, DesklineError, Forbidden, NotFound
from models.pool import (
    Claim,
    Customer,
    Loaded,
    NewPoolTicket,
    PoolCounts,
    PoolStatus,
    PoolTicket,
    Released,
    SaleFailure,
    SaleFailureReason,
    Sold,
)
from storage.database import Database


class PoolStore(Protocol):
    """Domain operations on the pool; every guarantee comes from the database, across processes.

    Times are read from ``clock`` inside the write, so on SQLite (one writer at a time)
    ``created_at`` / ``assigned_at`` / ``sold_at`` follow the order the writes committed in.
    Every write also returns the pool's counts after it (on SQLite read in the same transaction).
    """

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def add_tickets(self, tickets: list[NewPoolTicket], clock: Clock) -> Loaded:
        """Store new unassigned tickets in one step; return their ids in creation order."""

    async def claim_unassigned(self, agent_id: str, limit: int, clock: Clock) -> Claim:
        """Assign the oldest unassigned tickets to the agent until it holds ``limit`` unsold ones.

        No ticket is ever assigned twice and the agent never holds more than ``limit``
        unsold tickets, however many fetches run at once in however many processes.
        """

    async def sell(self, agent_id: str, ticket_ids: list[str], customer: Customer, clock: Clock) -> Sold:
        """Mark every ticket sold to ``customer`` in one atomic step, or change nothing.

        Raises the error of ``sale_refused`` naming each id that is unknown, not held by
        the agent, or already sold.
        """

    async def release_held(self, agent_id: str) -> Released:
        """Return every unsold ticket the agent holds to the pool (unassigned, keeping its age), atomically.

        A sale of the same tickets racing the release wins or loses as a whole: a ticket ends
        up either sold or unassigned, never both.
        """

    async def list_tickets(
        self, status: PoolStatus | None, agent_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[PoolTicket]:
        """Return up to ``limit`` tickets in creation order (ties by id), after a cursor position."""

    async def counts(self) -> PoolCounts:
        """Return how many tickets are in each status."""


def sale_failures(
    requested: Iterable[str], found: dict[str, tuple[str | None, PoolStatus]], agent_id: str
) -> list[SaleFailure]:
    """Return why each requested id cannot be sold by ``agent_id``, given ``{id: (agent, status)}``."""
    failures = []
    for ticket_id in requested:
        if ticket_id not in found:
            failures.append(SaleFailure(ticket_id=ticket_id, reason=SaleFailureReason.NOT_FOUND))
            continue
        owner, status = found[ticket_id]
        if owner != agent_id:
            failures.append(SaleFailure(ticket_id=ticket_id, reason=SaleFailureReason.NOT_YOURS))
        elif status == PoolStatus.SOLD:
            failures.append(SaleFailure(ticket_id=ticket_id, reason=SaleFailureReason.ALREADY_SOLD))
    return failures


def sale_refused(failures: list[SaleFailure]) -> DesklineError:
    """Return the error of a refused sale: ``not_found``, else ``forbidden``, else ``conflict`` (already sold)."""
    reasons = {f.reason for f in failures}
    details = {"failed": [f.model_dump(mode="json") for f in failures], "sold": 0}
    if SaleFailureReason.NOT_FOUND in reasons:
        return NotFound("some tickets do not exist; nothing was sold", details)
    if SaleFailureReason.NOT_YOURS in reasons:
        return Forbidden("some tickets are not assigned to you; nothing was sold", details)
    return Conflict("some tickets are already sold; nothing was sold", details)


def make_pool_store(db: Database) -> PoolStore:
    """Return the pool store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.pool import MongoPoolStore

        return MongoPoolStore(db)  # type: ignore[arg-type]
    from storage.sqlite.pool import SqlitePoolStore

    return SqlitePoolStore(db)  # type: ignore[arg-type]
