"""Pull-assignment pool: tickets an admin loads and agents fetch and sell."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from models.common import Document, Identifier, Limit, Name, Payload
from models.pushes import Push

MAX_BATCH = 1000
MAX_SELL_IDS = 1000

Details = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]


class PoolStatus(StrEnum):
    """Where a pool ticket is in its life: waiting, held by an agent, or sold."""

    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    SOLD = "sold"


class Priority(StrEnum):
    """How urgent a pool ticket is (informational: fetch order is creation order)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SaleFailureReason(StrEnum):
    """Why one id of a ``sell_tickets`` request cannot be sold."""

    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"
    ALREADY_SOLD = "already_sold"


class NewPoolTicket(Payload):
    """One ticket to load into the pool."""

    title: Name
    details: Details = ""
    priority: Priority = Priority.NORMAL


class CreatePoolTicketsPayload(Payload):
    """``create_pool_tickets`` (admin): one ticket ``{title, details?, priority?}`` or ``{tickets: [...]}``."""

    tickets: Annotated[list[NewPoolTicket], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    title: Name | None = None
    details: Details | None = None
    priority: Priority | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CreatePoolTicketsPayload:
        single = self.title is not None or self.details is not None or self.priority is not None
        if self.tickets is not None and single:
            raise ValueError("send either one ticket {title, details?, priority?} or {tickets: [...]}, not both")
        if self.tickets is None and self.title is None:
            raise ValueError("send a ticket's title, or a list of tickets")
        return self

    def items(self) -> list[NewPoolTicket]:
        """Return the tickets to create, in the order given."""
        if self.tickets is not None:
            return self.tickets
        return [
            NewPoolTicket(title=self.title or "", details=self.details or "", priority=self.priority or Priority.NORMAL)
        ]


class FetchTicketsPayload(Payload):
    """``fetch_tickets`` (agent): no fields."""


class Customer(Payload):
    """Who bought tickets: a non-blank name and a valid email (stored lower-cased)."""

    name: Name
    email: EmailStr

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class SellTicketsPayload(Payload):
    """``sell_tickets`` (agent): distinct ids of tickets the caller holds, and the customer."""

    ticket_ids: Annotated[list[Identifier], Field(min_length=1, max_length=MAX_SELL_IDS)]
    customer: Customer

    @field_validator("ticket_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if repeated:
            raise ValueError(f"ticket ids must be distinct; repeated: {', '.join(repeated)}")
        return ids


class ListPoolTicketsPayload(Payload):
    """``list_pool_tickets``: a page in creation order, optionally of one status and agent."""

    status: PoolStatus | None = None
    agent_id: Identifier | None = None
    cursor: str | None = None
    limit: Limit = 50


class Buyer(Document):
    """The customer recorded on a sold ticket (already validated when it was sold)."""

    name: str
    email: str


class PoolTicket(Document):
    """A pool ticket as clients see it."""

    id: str
    title: str
    details: str = ""
    priority: Priority = Priority.NORMAL
    status: PoolStatus
    agent_id: str | None = None
    created_at: datetime
    assigned_at: datetime | None = None
    sold_at: datetime | None = None
    customer: Buyer | None = None


class PoolCounts(Document):
    """How many pool tickets are in each status."""

    unassigned: int = 0
    assigned: int = 0
    sold: int = 0

    @property
    def total(self) -> int:
        """Every ticket ever loaded."""
        return self.unassigned + self.assigned + self.sold


class PoolChanged(Document):
    """Push ``pool_changed`` (also ``watch_pool``'s answer): the pool's counts by status and their total."""

    counts: PoolCounts
    total: int

    @classmethod
    def of(cls, counts: PoolCounts) -> PoolChanged:
        """Return the push for ``counts``."""
        return cls(counts=counts, total=counts.total)


POOL_CHANGED = Push("pool_changed", PoolChanged)


class Sale(Document):
    """The answer to a successful ``sell_tickets``."""

    tickets: list[PoolTicket]
    customer: Buyer
    sold_at: datetime


class SaleFailure(Document):
    """One id a sale refused, and why."""

    ticket_id: str
    reason: SaleFailureReason


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of one fetch: the caller's unsold tickets, how many were new, the pool's counts after."""

    tickets: list[PoolTicket]
    claimed: int
    held_before: int
    counts: PoolCounts


@dataclass(frozen=True, slots=True)
class Sold:
    """The outcome of a sale: the sold tickets and the pool's counts after."""

    tickets: list[PoolTicket]
    counts: PoolCounts


@dataclass(frozen=True, slots=True)
class Loaded:
    """The outcome of loading tickets: their ids in creation order and the pool's counts after."""

    ids: list[str]
    counts: PoolCounts


@dataclass(frozen=True, slots=True)
class Released:
    """The outcome of returning an agent's unsold tickets to the pool: their ids and the pool's counts after."""

    ids: list[str]
    counts: PoolCounts
