"""Queue counters, the agents' and holders' side: call the next number, recall it, mark a no-show, take a number."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.clock import Clock
from models.errors import NotFound
from models.notify import Kind
from models.pushes import Push
from models.queue import Called, QueueNumber
from models.queue_views import (
    COUNTER_UPDATED,
    NUMBER_NO_SHOW,
    NUMBER_RECALLED,
    YOUR_TURN,
    YOUR_TURN_MISSED,
    YOUR_TURN_SOON,
    CounterUpdated,
)
from models.rooms import office_room, user_room
from services.emitter import Emitter
from services.notify import NotifyService
from services.queue_stats import StatsService
from storage.queue import NumberStore, OfficeStore, ServingCounter

SOON_AHEAD = 3


class CounterService:
    """The "now serving" counter: agents' presses, recalls and no-shows, and telling trackers and holders."""

    def __init__(
        self,
        serving: ServingCounter,
        numbers: NumberStore,
        stats: StatsService,
        notify: NotifyService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.serving = serving
        self.numbers = numbers
        self.stats = stats
        self.notify = notify
        self.emitter = emitter
        self.clock = clock

    async def call_next(self, ref: str, number_window: int, agent_id: str) -> dict[str, Any]:
        """Call the office's next number at the agent's window; tell trackers, its holder, those near, managers."""
        called = await self.serving.call_next(ref, number_window, agent_id, self.clock())
        s = called.service
        await self.push_counter(s.ref_office, s.number, s.number_window, s.called_at)
        await self.called(called)
        await self.stats.push(s.ref_office)
        return {"counter": s.number, "ref_office": s.ref_office, "number_window": s.number_window, "at": s.called_at}

    async def recall(self, ref: str, number_window: int, agent_id: str) -> dict[str, Any]:
        """Announce the window's current number again, to the trackers and to its holder if still called."""
        s = await self.serving.recall(ref, number_window, agent_id)
        at = self.clock()
        data = {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window, "recalls": s.recalls}
        await self.emitter.push(NUMBER_RECALLED, {**data, "at": at}, to=office_room(s.ref_office))
        holder = await self.numbers.find_number(s.ref_office, s.epoch, s.number)
        if holder is not None and holder.status == "called":
            await self.announce_turn(holder, at, recalls=s.recalls)
        return data

    async def no_show(self, ref: str, number_window: int, agent_id: str) -> dict[str, Any]:
        """End the window's current number as a no-show; tell the trackers, its holder and the managers."""
        now = self.clock()
        skipped = await self.serving.mark_no_show(ref, number_window, agent_id, now)
        s, holder = skipped.service, skipped.holder  # the holder's number became a no-show in the same step
        data = {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window, "at": now}
        await self.emitter.push(NUMBER_NO_SHOW, data, to=office_room(s.ref_office))
        if holder is not None:
            body = f"Number {s.number} was not answered at window {s.number_window}."
            await self.tell(holder, YOUR_TURN_MISSED, Kind.YOUR_TURN_MISSED, "You missed your turn", body, data)
        await self.stats.push(s.ref_office)
        return {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window}

    async def push_counter(self, ref: str, counter: int, number_window: int | None, at: datetime) -> None:
        """Tell the office's trackers the counter changed."""
        changed = CounterUpdated(ref_office=ref, counter=counter, number_window=number_window, at=at)
        await self.emitter.push(COUNTER_UPDATED, changed, to=office_room(ref))

    async def tell(
        self, number: QueueNumber, push: Push[Any], kind: Kind, title: str, body: str, data: dict[str, Any]
    ) -> None:
        """Push ``push`` to the number's holder and send it through the notifier too."""
        await self.emitter.push(push, data, to=user_room(number.user_id))
        await self.notify.notify(number.user_id, kind, title, body, data)

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
        await self.tell(number, YOUR_TURN, Kind.YOUR_TURN, "It is your turn", body, data)

    async def called(self, called: Called) -> None:
        """After a press: tell the holder it called (marked by the press itself) and those now 3 or fewer away."""
        service = called.service
        if called.holder is not None:
            await self.announce_turn(called.holder, service.called_at)
        await self.warn_soon(service.ref_office, service.epoch, service.number)

    async def warn_soon(self, ref: str, epoch: int, counter: int) -> None:
        """Tell (once) every waiting holder with 3 or fewer people ahead that their turn is near."""
        for number in await self.numbers.claim_soon(ref, epoch, counter + SOON_AHEAD + 1):
            ahead = max(0, number.number - counter - 1)
            data = {"ref_office": ref, "number": number.number, "ahead": ahead}
            body = f"Number {number.number}: {ahead} ahead of you at {ref}."
            await self.tell(number, YOUR_TURN_SOON, Kind.YOUR_TURN_SOON, "Your turn is near", body, data)


class NumberService:
    """Clients' virtual numbers: take one, see where it stands."""

    def __init__(
        self, offices: OfficeStore, numbers: NumberStore, counter: CounterService, stats: StatsService, clock: Clock
    ) -> None:
        self.offices = offices
        self.numbers = numbers
        self.counter = counter
        self.stats = stats
        self.clock = clock

    async def take(self, ref: str, user_id: str) -> dict[str, Any]:
        """Issue the user the office's next number and return its position (a press calling it marks it itself)."""
        number = await self.numbers.take_number(ref, user_id, self.clock())
        office = await self.offices.get_office(ref)
        if office.epoch == number.epoch:
            await self.counter.warn_soon(ref, number.epoch, office.counter)
        current = await self.numbers.latest_number(ref, number.epoch, user_id) or number
        return await self.stats.estimate(office, current)

    async def position(self, ref: str, user_id: str) -> dict[str, Any]:
        """Return the position of the user's latest number of the office's current epoch."""
        office = await self.offices.get_office(ref)
        number = await self.numbers.latest_number(ref, office.epoch, user_id)
        if number is None:
            raise NotFound(f"you hold no number at {ref}; send take_number", {"ref_office": ref})
        return await self.stats.estimate(office, number)
