"""Ticket activity of a workspace over a time range (``helpdesk_stats``), overall and per agent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from pydantic import ConfigDict, Field, model_validator

from models.common import Document, Identifier, Payload
from models.pushes import Push

MAX_RANGE_MS = 366 * 24 * 3600 * 1000  # one year and a day: a longer range is refused
STAFF_AUTHOR_ROLES = ("agent", "manager", "admin")  # a message by one of these is an answer


class HelpdeskStatsPayload(Payload):
    """``helpdesk_stats``: the workspace and the range ``[from, to)`` in epoch milliseconds."""

    workspace_id: Identifier
    from_ms: int = Field(alias="from", ge=0, description="start of the range, inclusive (epoch ms)")
    to_ms: int = Field(alias="to", gt=0, description="end of the range, exclusive (epoch ms)")

    @model_validator(mode="after")
    def _a_range(self) -> HelpdeskStatsPayload:
        if self.to_ms <= self.from_ms:
            raise ValueError("'to' must be after 'from'")
        if self.to_ms - self.from_ms > MAX_RANGE_MS:
            raise ValueError("the range is at most 366 days")
        return self


class TicketResolution(Document):
    """When a ticket entered its current resolved or closed status (the stats' resolution record)."""

    ticket_id: str
    workspace_id: str
    status: str
    at: datetime


@dataclass(frozen=True)
class TicketTimes:
    """What the statistics read of one ticket (the storage's answer)."""

    ticket_id: str
    assignee_id: str | None
    status: str
    created_at: datetime
    done_at: datetime  # when it became resolved/closed (recorded; else its updated_at), meaningful when done
    first_response_at: datetime | None  # the first message by staff (agent, manager, admin), if any


class Durations(Document):
    """Durations in milliseconds: how many, their median and 90th percentile (nearest rank; null when none)."""

    count: int = 0
    median_ms: int | None = None
    p90_ms: int | None = None


class Activity(Document):
    """Counts and durations of a set of tickets over the range."""

    opened: int = 0
    resolved: int = 0
    closed: int = 0
    backlog: dict[str, int] = Field(default_factory=dict, description="tickets per status now, closed excepted")
    first_response: Durations = Field(default_factory=Durations)
    resolution: Durations = Field(default_factory=Durations)


class AgentActivity(Activity):
    """One assignee's share (``agent_id`` null: unassigned tickets); ``name`` when it is an account."""

    agent_id: str | None
    name: str | None = None


class HelpdeskStats(Activity):
    """The answer to ``helpdesk_stats``."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    workspace_id: str
    from_ms: int = Field(alias="from")
    to_ms: int = Field(alias="to")
    agents: list[AgentActivity] = Field(default_factory=list)


class HelpdeskStatsUpdated(Document):
    """Push ``helpdesk_stats_updated``: the workspace's tickets changed; ask ``helpdesk_stats`` again."""

    workspace_id: str
    changes: int = Field(description="ticket changes folded into this push")
    at: datetime


HELPDESK_STATS_UPDATED = Push("helpdesk_stats_updated", HelpdeskStatsUpdated)


def nearest_rank(values: list[int], percent: int) -> int | None:
    """Return the ``percent``-th percentile of ``values`` by the nearest-rank method (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent * len(ordered) / 100)) - 1]


def durations(values: list[int]) -> Durations:
    """Return the count, median and p90 of ``values`` (milliseconds)."""
    return Durations(count=len(values), median_ms=nearest_rank(values, 50), p90_ms=nearest_rank(values, 90))
