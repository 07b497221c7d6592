"""Queue statistics and waiting estimates: pure rules, and the service that reads and pushes them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from statistics import fmean
from typing import Any

from models.clock import Clock
from models.queue import Office, QueueNumber, Service
from models.queue_views import OFFICE_STATS_UPDATED, BusiestHour, OfficeStats, WindowStats
from models.rooms import office_managers_room
from services.emitter import Emitter
from storage.queue import ServingCounter

MOVING_AVERAGE_SIZE = 20


def start_of_day(moment: datetime) -> datetime:
    """Return 00:00 UTC of the day of ``moment``."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


def _average(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None


def compute_stats(ref: str, services: list[Service], start: datetime, end: datetime | None) -> OfficeStats:
    """Return served / no-show counts and average service time per window, and the busiest hour (UTC)."""
    windows: dict[int, dict[str, Any]] = {}
    for s in services:
        w = windows.setdefault(s.number_window, {"served": 0, "no_shows": 0, "durations": []})
        if s.outcome == "no_show":
            w["no_shows"] += 1
        else:
            w["served"] += 1
        if s.duration_seconds is not None:
            w["durations"].append(s.duration_seconds)
    hours = Counter(s.called_at.astimezone(UTC).hour for s in services)
    busiest = min(hours.items(), key=lambda kv: (-kv[1], kv[0])) if hours else None
    return OfficeStats(
        ref_office=ref,
        start=start,
        end=end,
        served=sum(w["served"] for w in windows.values()),
        no_shows=sum(w["no_shows"] for w in windows.values()),
        average_service_seconds=_average([d for w in windows.values() for d in w["durations"]]),
        windows=[
            WindowStats(
                number_window=n,
                served=w["served"],
                no_shows=w["no_shows"],
                average_service_seconds=_average(w["durations"]),
            )
            for n, w in sorted(windows.items())
        ],
        busiest_hour=BusiestHour(hour=busiest[0], calls=busiest[1]) if busiest else None,
        calls_by_hour={str(h): c for h, c in sorted(hours.items())},
    )


def position(office: Office, number: QueueNumber, durations: list[float]) -> dict[str, Any]:
    """Return where ``number`` stands: people ahead and the estimated wait over the open windows."""
    waiting = number.status == "waiting"
    ahead = max(0, number.number - office.counter - 1) if waiting else 0
    average = _average(durations)
    open_windows = office.open_windows
    wait = None
    if waiting and average is not None and open_windows:
        wait = round(ahead * average / open_windows)
    return {
        "ref_office": office.ref_office,
        "number": number.number,
        "status": number.status,
        "counter": office.counter,
        "ahead": ahead,
        "open_windows": open_windows,
        "average_service_seconds": average,
        "samples": len(durations),
        "estimated_wait_seconds": wait,
        "number_window": number.number_window,
        "taken_at": number.taken_at,
    }


class StatsService:
    """An office's statistics (read from its service history) and waiting estimates; pushes them to managers."""

    def __init__(self, serving: ServingCounter, emitter: Emitter, clock: Clock) -> None:
        self.serving = serving
        self.emitter = emitter
        self.clock = clock

    async def stats(self, ref: str, start: datetime | None = None, end: datetime | None = None) -> OfficeStats:
        """Return the office's statistics over ``[start, end)``; ``start`` defaults to today 00:00 UTC."""
        start = start or start_of_day(self.clock())
        return compute_stats(ref, await self.serving.services_between(ref, start, end), start, end)

    async def push(self, ref: str) -> None:
        """Send today's statistics to the managers watching the office."""
        await self.emitter.push(OFFICE_STATS_UPDATED, await self.stats(ref), to=office_managers_room(ref))

    async def estimate(self, office: Office, number: QueueNumber) -> dict[str, Any]:
        """Return the position of ``number`` using the office's recent service times."""
        durations = await self.serving.recent_durations(office.ref_office, MOVING_AVERAGE_SIZE)
        return position(office, number, durations)
