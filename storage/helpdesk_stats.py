"""Ticket activity repository: the bounded reads ``helpdesk_stats`` needs, and the figures made of them.

It reads the unified ``tickets`` and ``ticket_messages`` (every door), and keeps one table of its own,
``ticket_resolutions``: when each ticket entered its current ``resolved``/``closed`` status (written by the
helpdesk's change hook). A ticket counts as *resolved* (or *closed*) in a range when its status is now
``resolved`` (``closed``) and that moment is in the range; a ticket with no record (done before the record
existed) falls back to its ``updated_at``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Protocol

from models.errors import InvalidPayload
from models.helpdesk_stats import (
    Activity,
    AgentActivity,
    HelpdeskStats,
    TicketResolution,
    TicketTimes,
    durations,
)
from storage.database import Database

MAX_TICKETS = 50_000  # tickets one answer may read; a busier range is refused (narrow it)
ONE_MS = timedelta(milliseconds=1)
DONE = ("resolved", "closed")


class HelpdeskStatsStore(Protocol):
    """Reads of a workspace's tickets for the statistics."""

    async def init(self) -> None:
        """Create indexes if missing."""

    async def ticket_times(self, workspace_id: str, start: datetime, end: datetime, limit: int) -> list[TicketTimes]:
        """Return up to ``limit`` tickets created in ``[start, end)`` or now resolved/closed and touched since
        ``start`` (a superset: the caller keeps those done in the range)."""

    async def record_done(self, ticket_id: str, workspace_id: str, status: str, at: datetime) -> None:
        """Remember that the ticket became ``status`` (resolved or closed) at ``at``."""

    async def forget_done(self, ticket_id: str) -> None:
        """Forget the ticket's record (it was reopened)."""

    async def list_done(self, workspace_id: str) -> list[TicketResolution]:
        """Return the resolution records of the workspace's tickets, by ticket id."""

    async def backlog(self, workspace_id: str) -> list[tuple[str | None, str, int]]:
        """Return ``(assignee_id, status, count)`` of the workspace's tickets that are not closed, now."""


def _ms(later: datetime, earlier: datetime) -> int:
    return (later - earlier) // ONE_MS


def _fill(activity: Activity, tickets: list[TicketTimes], start: datetime, end: datetime) -> None:
    """Count and time ``tickets`` over ``[start, end)`` into ``activity``."""
    opened = [t for t in tickets if start <= t.created_at < end]
    done = [t for t in tickets if t.status in DONE and start <= t.done_at < end]
    activity.opened = len(opened)
    activity.resolved = sum(1 for t in done if t.status == "resolved")
    activity.closed = sum(1 for t in done if t.status == "closed")
    answered = [_ms(t.first_response_at, t.created_at) for t in opened if t.first_response_at is not None]
    activity.first_response = durations(answered)
    activity.resolution = durations([_ms(t.done_at, t.created_at) for t in done])


async def workspace_activity(
    store: HelpdeskStatsStore, workspace_id: str, start: datetime, end: datetime
) -> HelpdeskStats:
    """Return the workspace's ticket activity over ``[start, end)``, overall and per assignee (names left empty)."""
    tickets = await store.ticket_times(workspace_id, start, end, MAX_TICKETS)
    if len(tickets) >= MAX_TICKETS:
        raise InvalidPayload(f"more than {MAX_TICKETS} tickets in this range: narrow it", {"limit": MAX_TICKETS})
    stats = HelpdeskStats(workspace_id=workspace_id, from_ms=_epoch_ms(start), to_ms=_epoch_ms(end))
    _fill(stats, tickets, start, end)
    by_agent: dict[str | None, list[TicketTimes]] = defaultdict(list)
    for ticket in tickets:
        by_agent[ticket.assignee_id].append(ticket)
    backlog: dict[str | None, dict[str, int]] = defaultdict(dict)
    for assignee_id, status, count in await store.backlog(workspace_id):
        backlog[assignee_id][status] = count
        stats.backlog[status] = stats.backlog.get(status, 0) + count
    for agent_id in sorted(set(by_agent) | set(backlog), key=lambda a: (a is None, a or "")):
        agent = AgentActivity(agent_id=agent_id, backlog=backlog.get(agent_id, {}))
        _fill(agent, by_agent.get(agent_id, []), start, end)
        stats.agents.append(agent)
    return stats


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def make_helpdesk_stats_store(db: Database) -> HelpdeskStatsStore:
    """Return the statistics store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.helpdesk_stats import MongoHelpdeskStatsStore

        return MongoHelpdeskStatsStore(db)  # type: ignore[arg-type]
    from storage.sqlite.helpdesk_stats import SqliteHelpdeskStatsStore

    return SqliteHelpdeskStatsStore(db)  # type: ignore[arg-type]
