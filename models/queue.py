"""Queue counters: offices, service windows, called numbers, virtual numbers and their event payloads.

Statistics and the pushes: ``models/queue_views.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, PlainSerializer, StringConstraints, model_validator

from models.common import Document, Identifier, Limit, Name, Payload

RefOffice = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
]
WindowNumber = Annotated[int, Field(strict=True, ge=1, le=999)]
WindowCount = Annotated[int, Field(strict=True, ge=1, le=999)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Outcome = Literal["serving", "served", "no_show"]
NumberStatus = Literal["waiting", "called", "no_show", "expired"]
Action = Literal["enable", "disable"]


def _utc(value: datetime | None) -> datetime | None:
    """Read a naive timestamp as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
# A timestamp sent as ``datetime.isoformat()`` (``+00:00``), as the queue always sent them (pydantic writes ``Z``).
IsoTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]


# ---- payloads ---------------------------------------------------------------------------------------------------


class CreateOfficePayload(Payload):
    """``create_office`` (manager): a new office with ``windows`` service windows numbered from 1."""

    name: Name
    address: Address | None = None
    windows: WindowCount


class UpdateOfficePayload(Payload):
    """``update_office``: rename, re-address, or add windows (windows only grow)."""

    ref_office: RefOffice
    name: Name | None = None
    address: Address | None = None
    windows: WindowCount | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateOfficePayload:
        if self.name is None and self.address is None and self.windows is None:
            raise ValueError("give at least one of name, address, windows")
        return self


class OfficeRefPayload(Payload):
    """Events naming one office: ``delete_office``, ``reset_counters``, ``take_number``, ``my_position``."""

    ref_office: RefOffice


class AssignAgentPayload(Payload):
    """``assign_agent``: put an agent at a window (``office_id`` is the office reference, as in the seed)."""

    office_id: RefOffice
    number_window: WindowNumber
    agent_id: Identifier


class DeleteAgentPayload(Payload):
    """``delete_agent``: take an agent off every window of the office."""

    ref_office: RefOffice
    agent_id: Identifier


class WindowPayload(Payload):
    """``increment_counter``, ``recall``, ``no_show``: an agent acting at their window."""

    ref_office: RefOffice
    number_window: WindowNumber


class SearchOfficesPayload(Payload):
    """``search_offices``: by name (substring, any case) or reference (prefix)."""

    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    limit: Annotated[int, Field(strict=True, ge=1, le=50)] = 20


class TrackOfficesPayload(Payload):
    """``track_offices``: start or stop receiving an office's live counter."""

    action: Action
    ref_offices: Annotated[list[RefOffice], Field(min_length=1, max_length=50)]


class WatchStatsPayload(Payload):
    """``watch_office_stats`` (manager): join or leave ``office:<ref>:managers``."""

    ref_office: RefOffice
    action: Action = "enable"


class OfficeStatsPayload(Payload):
    """``office_stats``: counts for calls made in ``[from, to)``; ``from`` defaults to today 00:00 UTC."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    ref_office: RefOffice
    start: UtcDatetime | None = Field(None, alias="from")
    end: UtcDatetime | None = Field(None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> OfficeStatsPayload:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        return self


class OfficeAuditPayload(Payload):
    """``office_audit``: the office's audit log, newest first."""

    ref_office: RefOffice
    limit: Limit = 50


# ---- documents --------------------------------------------------------------------------------------------------


class Window(Document):
    """A service window: who sits there and what it has served since the last reset."""

    number_window: int
    agent_id: str | None = None
    served: int = 0
    no_shows: int = 0
    current_number: int | None = None


class Office(Document):
    """An office as its manager sees it."""

    ref_office: str
    name: str
    address: str | None = None
    manager_id: str
    counter: int = 0
    issued: int = 0
    epoch: int = 0
    windows: list[Window] = Field(default_factory=list)
    created_at: datetime
    deleted_at: datetime | None = None

    def window(self, number: int) -> Window | None:
        """Return window ``number``, if the office has it."""
        return next((w for w in self.windows if w.number_window == number), None)

    @property
    def open_windows(self) -> int:
        """Windows with an agent assigned."""
        return sum(1 for w in self.windows if w.agent_id)

    def public(self) -> dict[str, Any]:
        """Return what anyone (trackers, searchers) may see."""
        return {
            "ref_office": self.ref_office,
            "name": self.name,
            "address": self.address,
            "counter": self.counter,
            "windows": [
                {"number_window": w.number_window, "open": bool(w.agent_id), "current_number": w.current_number}
                for w in self.windows
            ],
        }


class Service(Document):
    """One number called at a window: when, by whom, and how it ended."""

    id: str
    ref_office: str
    epoch: int
    number: int
    number_window: int
    agent_id: str
    called_at: datetime
    ended_at: datetime | None = None
    outcome: Outcome = "serving"
    recalls: int = 0

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from call to end of a completed service."""
        if self.outcome != "served" or self.ended_at is None:
            return None
        return (self.ended_at - self.called_at).total_seconds()


class QueueNumber(Document):
    """A virtual number a client took with ``take_number``."""

    id: str
    ref_office: str
    epoch: int
    number: int
    user_id: str
    status: NumberStatus = "waiting"
    taken_at: datetime
    called_at: datetime | None = None
    number_window: int | None = None
    soon_notified: bool = False


class Called(Document):
    """What ``increment_counter`` did: the new number, the service it closed, and the virtual number it called.

    ``holder`` is the client's number moved from waiting to called by the same step (None if nobody waited on it).
    """

    service: Service
    closed: Service | None = None
    holder: QueueNumber | None = None


class Skipped(Document):
    """What ``no_show`` did: the service it ended, and the virtual number it moved from called to no-show (or None)."""

    service: Service
    holder: QueueNumber | None = None


class AuditEntry(Document):
    """One change to an office that its manager may need to account for."""

    id: str
    ref_office: str
    action: str
    by: str
    at: datetime
    previous: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)


class Reset(Document):
    """What ``reset_counters`` did: its audit entry, and the waiting numbers it expired (their holders are told)."""

    entry: AuditEntry
    expired: list[QueueNumber] = Field(default_factory=list)


# ---- public views (acks and pushes) ----------------------------------------------------------------------------------


class PublicWindow(Document):
    """A window as anyone may see it."""

    number_window: int
    open: bool
    current_number: int | None


class PublicOffice(Document):
    """An office as anyone (trackers, searchers) may see it: ``Office.public()``."""

    ref_office: str
    name: str
    address: str | None
    counter: int
    windows: list[PublicWindow]
