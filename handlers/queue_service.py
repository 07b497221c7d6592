"""Queue rules shared by the queue event modules: ownership, estimates, statistics and live pushes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from statistics import fmean
from typing import Any

from handlers.context import Deps
from models.errors import Forbidden
from models.queue import Called, Office, QueueNumber, Service
from models.roles import Principal, Role
from models.rooms import office_managers_room, office_room, user_room
from storage.queue import QueueStore

MOVING_AVERAGE_SIZE = 20
SOON_AHEAD = 3


def start_of_day(moment: datetime) -> datetime:
    """Return 00:00 UTC of the day of ``moment``."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


def _average(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None


def compute_stats(ref: str, services: list[Service], start: datetime, end: datetime | None) -> dict[str, Any]:
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
    return {
        "ref_office": ref,
        "from": start,
        "to": end,
        "served": sum(w["served"] for w in windows.values()),
        "no_shows": sum(w["no_shows"] for w in windows.values()),
        "average_service_seconds": _average([d for w in windows.values() for d in w["durations"]]),
        "windows": [
            {
                "number_window": n,
                "served": w["served"],
                "no_shows": w["no_shows"],
                "average_service_seconds": _average(w["durations"]),
            }
            for n, w in sorted(windows.items())
        ],
        "busiest_hour": {"hour": busiest[0], "calls": busiest[1]} if busiest else None,
        "calls_by_hour": {str(h): c for h, c in sorted(hours.items())},
    }


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


class QueueService:
    """What several queue events share: the store, access rules and pushes."""

    def __init__(self, deps: Deps, store: QueueStore) -> None:
        self.deps = deps
        self.store = store

    async def managed_office(self, who: Principal, ref: str) -> Office:
        """Return the office if ``who`` manages it (admins manage every office), else raise."""
        office = await self.store.get_office(ref)
        if who.role != Role.ADMIN and office.manager_id != who.user_id:
            raise Forbidden(f"you do not manage office {ref}", {"ref_office": ref})
        return office

    async def stats(self, ref: str, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        """Return the office's statistics over ``[start, end)``; ``start`` defaults to today 00:00 UTC."""
        start = start or start_of_day(self.deps.clock())
        return compute_stats(ref, await self.store.services_between(ref, start, end), start, end)

    async def estimate(self, office: Office, number: QueueNumber) -> dict[str, Any]:
        """Return the position of ``number`` using the office's recent service times."""
        durations = await self.store.recent_durations(office.ref_office, MOVING_AVERAGE_SIZE)
        return position(office, number, durations)

    async def push_counter(self, ref: str, counter: int, number_window: int | None, at: datetime) -> None:
        """Tell the office's trackers the counter changed."""
        data = {"ref_office": ref, "counter": counter, "number_window": number_window, "at": at}
        await self.deps.emit("counter_updated", data, to=office_room(ref))

    async def push_stats(self, ref: str) -> None:
        """Send today's statistics to the managers watching the office."""
        await self.deps.emit("office_stats_updated", await self.stats(ref), to=office_managers_room(ref))

    async def tell(self, number: QueueNumber, event: str, title: str, body: str, data: dict[str, Any]) -> None:
        """Push ``event`` to the number's holder and send it through the notifier too."""
        await self.deps.emit(event, data, to=user_room(number.user_id))
        await self.deps.notifier.notify(number.user_id, f"queue.{event}", title, body, data)

    async def announce_turn(self, number: QueueNumber, at: datetime, recalls: int = 0) -> None:
        """Tell a holder their number is called at a window."""
        data = {
            "ref_office": number.ref_office,
            "number": number.number,
            "number_window": number.number_window,
            "at": at,
            "recalls": recalls,
        }
        body = f"Number {number.number}: please go to window {number.number_window}."
        await self.tell(number, "your_turn", "It is your turn", body, data)

    async def called(self, called: Called) -> None:
        """After a press: tell the holder it called (marked by the press itself) and those now 3 or fewer away."""
        service = called.service
        if called.holder is not None:
            await self.announce_turn(called.holder, service.called_at)
        await self.warn_soon(service.ref_office, service.epoch, service.number)

    async def warn_soon(self, ref: str, epoch: int, counter: int) -> None:
        """Tell (once) every waiting holder with 3 or fewer people ahead that their turn is near."""
        for number in await self.store.claim_soon(ref, epoch, counter + SOON_AHEAD + 1):
            ahead = max(0, number.number - counter - 1)
            data = {"ref_office": ref, "number": number.number, "ahead": ahead}
            body = f"Number {number.number}: {ahead} ahead of you at {ref}."
            await self.tell(number, "your_turn_soon", "Your turn is near", body, data)
