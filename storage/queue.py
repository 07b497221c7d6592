"""Queue repositories, one per aggregate: offices (windows, seats, audit), numbers, the serving counter, tracking.

``make_queue_store`` returns them together as a ``QueueStore``; services take the one they need.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from models.errors import NotFound
from models.queue import AuditEntry, Called, Office, QueueNumber, Reset, Service, Skipped
from storage.database import Database, new_id

REF_PREFIX = "ref"


def office_ref(sequence: int) -> str:
    """Return the short reference of the ``sequence``-th office: ref01, ref02, … ref100."""
    return f"{REF_PREFIX}{sequence:02d}"


def seat_entry(
    ref: str,
    number_window: int,
    agent_id: str,
    by: str,
    now: datetime,
    replaced: str | None,
    left: list[int],
    new: bool,
) -> AuditEntry:
    """Return the audit entry of seating an agent: who sat at the window before, which windows the agent left."""
    previous = {"agent_id": replaced, "agent_windows": left}
    details = {"agent_id": agent_id, "number_window": number_window, "new_window": new}
    return _entry(ref, "assign_agent", by, now, previous, details)


def removal_entry(ref: str, agent_id: str, by: str, now: datetime, windows: list[int]) -> AuditEntry:
    """Return the audit entry of taking an agent off the windows they sat at."""
    return _entry(ref, "delete_agent", by, now, {"agent_windows": windows}, {"agent_id": agent_id})


def reset_entry(ref: str, by: str, now: datetime, office: Any, windows: list[tuple[int, int, int]]) -> AuditEntry:
    """Return the audit entry of resetting an office's counters: its counts before, and each window's
    ``(number_window, served, no_shows)``."""
    previous = {
        "counter": office["counter"],
        "issued": office["issued"],
        "epoch": office["epoch"],
        "windows": [{"number_window": n, "served": s, "no_shows": x} for n, s, x in windows],
    }
    return _entry(ref, "reset_counters", by, now, previous, {})


def _entry(
    ref: str, action: str, by: str, now: datetime, previous: dict[str, Any], details: dict[str, Any]
) -> AuditEntry:
    return AuditEntry(id=new_id(), ref_office=ref, action=action, by=by, at=now, previous=previous, details=details)


def no_window_error(ref: str, agent_id: str) -> NotFound:
    """Return the error of removing an agent who sits at no window of the office."""
    return NotFound(f"agent {agent_id} has no window at {ref}", {"agent_id": agent_id})


class OfficeStore(Protocol):
    """An office with its windows, seats and audit log; raises ``NotFound``, ``Forbidden`` and ``Conflict``.

    An office deleted with ``delete_office`` keeps its rows (audit, statistics) but every
    operation on it raises ``NotFound`` saying it was deleted; its reference is never reused.
    """

    async def init(self) -> None:
        """Create the offices', windows', sequences' and audit tables or indexes if missing."""

    async def create_office(
        self, name: str, address: str | None, windows: int, manager_id: str, now: datetime
    ) -> Office:
        """Store an office with a fresh unique reference and windows 1..``windows``."""

    async def get_office(self, ref: str) -> Office:
        """Return a live office with its windows; ``NotFound`` if unknown or deleted."""

    async def live_offices(self, refs: list[str]) -> list[Office]:
        """Return the live offices among ``refs`` (unknown and deleted ones are left out)."""

    async def update_office(self, ref: str, name: str | None, address: str | None, windows: int | None) -> Office:
        """Change the given fields; ``windows`` may only grow (``Conflict`` otherwise)."""

    async def delete_office(self, ref: str, now: datetime) -> list[str]:
        """Mark the office deleted, expire its waiting numbers and return their users."""

    async def offices_managed_by(self, manager_id: str) -> list[Office]:
        """Return the live offices of a manager, oldest first."""

    async def offices_staffed_by(self, agent_id: str) -> list[Office]:
        """Return the live offices where an agent sits at a window."""

    async def search_offices(self, query: str, limit: int) -> list[Office]:
        """Return live offices whose name contains ``query`` (any case) or whose reference starts with it."""

    async def assign_agent(self, ref: str, number_window: int, agent_id: str, by: str, now: datetime) -> bool:
        """Seat ``agent_id`` at the window (leaving any other window of the office); True if the window is new.

        One step with its audit entry (``seat_entry``), whose previous values are the ones overwritten.
        """

    async def remove_agent(self, ref: str, agent_id: str, by: str, now: datetime) -> list[int]:
        """Take the agent off every window of the office; return the windows they left (never empty).

        One step with its audit entry (``removal_entry``), listing exactly those windows. If the
        step frees no window (the agent sits at none, or was moved off by a change committed
        first), it raises ``no_window_error`` and writes nothing.
        """

    async def reset_counters(self, ref: str, by: str, now: datetime) -> Reset:
        """Set the counter, issued numbers and every window's counts to 0, start a new epoch, log it.

        Waiting numbers expire; the result lists them so their holders can be told.
        """

    async def audit(self, ref: str, limit: int) -> list[AuditEntry]:
        """Return the office's newest ``limit`` audit entries, newest first."""


class ServingCounter(Protocol):
    """The office's "now serving" counter: numbers called at windows, recalls, no-shows and service history."""

    async def init(self) -> None:
        """Create the services' table or indexes if missing."""

    async def call_next(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Called:
        """Atomically take the office's next number for this window and record the service.

        ``Forbidden`` unless ``agent_id`` sits at the window. Closes the window's previous
        service as served and, in the same step, moves the client's virtual number with this
        number (if one waits on it) to called at this window: ``Called.holder``.
        """

    async def recall(self, ref: str, number_window: int, agent_id: str) -> Service:
        """Count one more announcement of the window's current number; ``Conflict`` if none."""

    async def mark_no_show(self, ref: str, number_window: int, agent_id: str, now: datetime) -> Skipped:
        """End the window's current service as a no-show; ``Conflict`` if none.

        In the same step the client's virtual number with that number, if it was called, becomes
        a no-show: ``Skipped.holder``.
        """

    async def recent_durations(self, ref: str, limit: int) -> list[float]:
        """Return the durations in seconds of the office's ``limit`` most recently completed services."""

    async def services_between(self, ref: str, start: datetime, end: datetime | None) -> list[Service]:
        """Return the services called in ``[start, end)`` (``end`` None: open-ended)."""


class NumberStore(Protocol):
    """Clients' virtual numbers: taken, looked up, and flagged once when their turn is near."""

    async def init(self) -> None:
        """Create the numbers' table or indexes if missing."""

    async def take_number(self, ref: str, user_id: str, now: datetime) -> QueueNumber:
        """Issue the user the office's next number; ``Conflict`` if they already wait there."""

    async def latest_number(self, ref: str, epoch: int, user_id: str) -> QueueNumber | None:
        """Return the user's most recent number at the office in this epoch."""

    async def find_number(self, ref: str, epoch: int, number: int) -> QueueNumber | None:
        """Return the virtual number ``number`` of this epoch, if a client took it."""

    async def claim_soon(self, ref: str, epoch: int, up_to: int) -> list[QueueNumber]:
        """Flag (once) and return waiting numbers up to ``up_to`` that were not yet told their turn is near."""


class TrackingStore(Protocol):
    """Which offices each signed-in user tracks (restored when they reconnect, on any instance)."""

    async def init(self) -> None:
        """Create the tracking table or indexes if missing."""

    async def track(self, user_id: str, refs: list[str], now: datetime) -> None:
        """Remember that a signed-in user tracks ``refs``."""

    async def untrack(self, user_id: str, refs: list[str]) -> None:
        """Forget that the user tracks ``refs``."""

    async def tracked_by(self, user_id: str) -> list[str]:
        """Return the references the user tracks, sorted."""


class QueueStore:
    """The queue's four stores over one database, built and initialised together.

    Services take the store of their aggregate (``offices``, ``serving``, ``numbers``, ``tracking``); each
    store's operations can also be called on the bundle itself (contract tests, tools).
    """

    def __init__(
        self, offices: OfficeStore, serving: ServingCounter, numbers: NumberStore, tracking: TrackingStore
    ) -> None:
        self.offices, self.serving, self.numbers, self.tracking = offices, serving, numbers, tracking
        self.create_office, self.get_office = offices.create_office, offices.get_office
        self.live_offices, self.update_office = offices.live_offices, offices.update_office
        self.delete_office, self.search_offices = offices.delete_office, offices.search_offices
        self.offices_managed_by, self.offices_staffed_by = offices.offices_managed_by, offices.offices_staffed_by
        self.assign_agent, self.remove_agent = offices.assign_agent, offices.remove_agent
        self.reset_counters, self.audit = offices.reset_counters, offices.audit
        self.call_next, self.recall, self.mark_no_show = serving.call_next, serving.recall, serving.mark_no_show
        self.recent_durations, self.services_between = serving.recent_durations, serving.services_between
        self.take_number, self.claim_soon = numbers.take_number, numbers.claim_soon
        self.latest_number, self.find_number = numbers.latest_number, numbers.find_number
        self.track, self.untrack, self.tracked_by = tracking.track, tracking.untrack, tracking.tracked_by

    async def init(self) -> None:
        """Create every queue table or index if missing (each store its own)."""
        for store in (self.offices, self.serving, self.numbers, self.tracking):
            await store.init()


def make_queue_store(db: Database) -> QueueStore:
    """Return the queue stores of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.queue_numbers import MongoNumberStore
        from storage.mongo.queue_offices import MongoOfficeStore
        from storage.mongo.queue_serving import MongoServingCounter
        from storage.mongo.queue_tracking import MongoTrackingStore

        mongo: Any = db
        return QueueStore(
            MongoOfficeStore(mongo), MongoServingCounter(mongo), MongoNumberStore(mongo), MongoTrackingStore(mongo)
        )
    from storage.sqlite.queue_numbers import SqliteNumberStore
    from storage.sqlite.queue_offices import SqliteOfficeStore
    from storage.sqlite.queue_serving import SqliteServingCounter
    from storage.sqlite.queue_tracking import SqliteTrackingStore

    sqlite: Any = db
    return QueueStore(
        SqliteOfficeStore(sqlite), SqliteServingCounter(sqlite), SqliteNumberStore(sqlite), SqliteTrackingStore(sqlite)
    )
