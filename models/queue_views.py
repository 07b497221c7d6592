"""Queue statistics and pushes: what ``office_stats`` answers and every event the queue pushes, with its model."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from models.common import Document
from models.pushes import Push
from models.queue import IsoTime, NumberStatus, PublicOffice

# ---- statistics (acks and push) ---------------------------------------------------------------


class WindowStats(Document):
    """One window's counts in ``office_stats``."""

    number_window: int
    served: int
    no_shows: int
    average_service_seconds: float | None


class BusiestHour(Document):
    """The hour (UTC) with the most calls."""

    hour: int
    calls: int


class OfficeStats(Document):
    """``office_stats`` over ``[from, to)``, and push ``office_stats_updated`` (today's)."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    ref_office: str
    start: IsoTime = Field(alias="from")
    end: IsoTime | None = Field(alias="to")
    served: int
    no_shows: int
    average_service_seconds: float | None
    windows: list[WindowStats]
    busiest_hour: BusiestHour | None
    calls_by_hour: dict[str, int]


# ---- pushes -----------------------------------------------------------------------------------------------------


class CounterUpdated(Document):
    """Push ``counter_updated`` to ``office:<ref>``: the number now served (0 and no window after a reset)."""

    ref_office: str
    counter: int
    number_window: int | None
    at: IsoTime


class NumberRecalled(Document):
    """Push ``number_recalled`` to ``office:<ref>``: a window announced its current number again."""

    ref_office: str
    number: int
    number_window: int
    recalls: int
    at: IsoTime


class NumberNoShow(Document):
    """Push ``number_no_show`` to ``office:<ref>`` (and ``your_turn_missed`` to its holder): nobody answered."""

    ref_office: str
    number: int
    number_window: int
    at: IsoTime


class OfficeDeleted(Document):
    """Push ``office_deleted`` to the office's rooms, its agents and the holders of its waiting numbers."""

    ref_office: str
    at: IsoTime


class WindowsClosed(Document):
    """Push ``windows_closed`` to ``office:<ref>``: these windows have no agent now."""

    ref_office: str
    windows: list[int]
    at: IsoTime


class AgentRemoved(Document):
    """Push ``agent_removed`` to ``user:<agent>``: a manager took the agent off these windows."""

    ref_office: str
    windows: list[int]
    at: IsoTime
    agent_id: str


class CountersReset(Document):
    """Push ``counters_reset`` to ``user:<holder>`` of each waiting number a reset expired."""

    ref_office: str
    number: int
    status: NumberStatus
    at: IsoTime


class TrackingRestored(Document):
    """Push ``tracking_restored`` to a signed-in user's reconnecting socket: the offices it tracks again."""

    tracking: list[str]
    offices: list[PublicOffice]


class YourTurnSoon(Document):
    """Push ``your_turn_soon`` to ``user:<holder>``: 3 or fewer are ahead (once per number)."""

    ref_office: str
    number: int
    ahead: int


class YourTurn(Document):
    """Push ``your_turn`` to ``user:<holder>``: the number is called at a window (again, with ``recalls``)."""

    ref_office: str
    number: int
    number_window: int | None
    at: IsoTime
    recalls: int


COUNTER_UPDATED = Push("counter_updated", CounterUpdated)
NUMBER_RECALLED = Push("number_recalled", NumberRecalled)
NUMBER_NO_SHOW = Push("number_no_show", NumberNoShow)
OFFICE_DELETED = Push("office_deleted", OfficeDeleted)
WINDOWS_CLOSED = Push("windows_closed", WindowsClosed)
AGENT_REMOVED = Push("agent_removed", AgentRemoved)
COUNTERS_RESET = Push("counters_reset", CountersReset)
TRACKING_RESTORED = Push("tracking_restored", TrackingRestored)
OFFICE_STATS_UPDATED = Push("office_stats_updated", OfficeStats)
YOUR_TURN_SOON = Push("your_turn_soon", YourTurnSoon)
YOUR_TURN = Push("your_turn", YourTurn)
YOUR_TURN_MISSED = Push("your_turn_missed", NumberNoShow)
