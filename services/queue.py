"""Queue counters, the managers' and trackers' side: offices, windows, agents, resets, audit, tracking.

The counter itself (presses, recalls, no-shows) and clients' numbers are in ``services/queue_counter.py``,
statistics and estimates in ``services/queue_stats.py``; ``QueueServices`` holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.clock import Clock
from models.errors import Forbidden, InvalidPayload, NotFound
from models.queue import AuditEntry, Office
from models.queue_views import (
    AGENT_REMOVED,
    COUNTERS_RESET,
    OFFICE_DELETED,
    TRACKING_RESTORED,
    WINDOWS_CLOSED,
    CountersReset,
    OfficeDeleted,
    TrackingRestored,
)
from models.roles import Principal, Role
from models.rooms import office_managers_room, office_room, user_room
from services.accounts import AccountService
from services.emitter import Emitter
from services.notify import NotifyService
from services.queue_counter import CounterService, NumberService
from services.queue_stats import StatsService
from storage.queue import OfficeStore, QueueStore, TrackingStore

ASSIGNED_EXISTING = "Agent assigned to existing window successfully"
ASSIGNED_NEW = "Agent assigned to new window successfully"
OFFICE_DELETED_MESSAGE = "office was deleted successfully"
AGENT_DELETED = "Agent deleted successfully"
COUNTERS_RESET_MESSAGE = "Counters reset successfully"


class OfficeService:
    """Managers' use cases on their offices (admins manage every office)."""

    def __init__(
        self,
        offices: OfficeStore,
        accounts: AccountService,
        counter: CounterService,
        stats: StatsService,
        emitter: Emitter,
        clock: Clock,
    ) -> None:
        self.offices = offices
        self.accounts = accounts
        self.counter = counter
        self.stats = stats
        self.emitter = emitter
        self.clock = clock

    async def managed(self, who: Principal, ref: str) -> Office:
        """Return the office if ``who`` manages it (admins manage every office), else raise."""
        office = await self.offices.get_office(ref)
        if who.role != Role.ADMIN and office.manager_id != who.user_id:
            raise Forbidden(f"you do not manage office {ref}", {"ref_office": ref})
        return office

    async def create(self, who: Principal, name: str, address: str | None, windows: int) -> Office:
        """Create an office managed by ``who``."""
        return await self.offices.create_office(name, address, windows, who.user_id, self.clock())

    async def update(
        self, who: Principal, ref: str, name: str | None, address: str | None, windows: int | None
    ) -> Office:
        """Rename, re-address or add windows to a managed office."""
        await self.managed(who, ref)
        return await self.offices.update_office(ref, name, address, windows)

    async def delete(self, who: Principal, ref: str) -> dict[str, Any]:
        """Delete a managed office, expire its waiting numbers, and tell its rooms, agents and holders (once each)."""
        office = await self.managed(who, ref)
        now = self.clock()
        holders = await self.offices.delete_office(ref, now)
        agents = sorted({w.agent_id for w in office.windows if w.agent_id})
        told = [office_room(ref), office_managers_room(ref), *(user_room(u) for u in [*holders, *agents])]
        await self.emitter.push(OFFICE_DELETED, OfficeDeleted(ref_office=ref, at=now), to=told)
        return {"message": OFFICE_DELETED_MESSAGE, "ref_office": ref, "deleted": True, "expired_numbers": len(holders)}

    async def mine(self, who: Principal) -> dict[str, Any]:
        """Return the offices ``who`` manages, or for an agent the offices where they sit."""
        if who.role == Role.AGENT:
            return {"offices": await self.offices.offices_staffed_by(who.user_id)}
        return {"offices": await self.offices.offices_managed_by(who.user_id)}

    async def assign_agent(self, who: Principal, ref: str, number_window: int, agent_id: str) -> dict[str, Any]:
        """Seat an active agent at a window of a managed office (creating the window if new)."""
        await self.managed(who, ref)
        agent = await self.accounts.store.get_user(agent_id)
        if agent.role != Role.AGENT or not agent.active:
            state = agent.role.value if agent.active else "deactivated"
            raise InvalidPayload(
                f"user {agent_id} is not an active agent ({state})",
                [{"field": "agent_id", "message": "must be an active agent", "type": "agent"}],
            )
        created = await self.offices.assign_agent(ref, number_window, agent_id, who.user_id, self.clock())
        return {
            "message": ASSIGNED_NEW if created else ASSIGNED_EXISTING,
            "ref_office": ref,
            "number_window": number_window,
            "agent_id": agent_id,
            "new_window": created,
        }

    async def remove_agent(self, who: Principal, ref: str, agent_id: str) -> dict[str, Any]:
        """Take an agent off every window of a managed office; tell the agent and the trackers."""
        await self.managed(who, ref)
        now = self.clock()
        windows = await self.offices.remove_agent(ref, agent_id, who.user_id, now)  # not_found if it frees none
        closed = {"ref_office": ref, "windows": windows, "at": now}
        await self.emitter.push(AGENT_REMOVED, {**closed, "agent_id": agent_id}, to=user_room(agent_id))
        await self.emitter.push(WINDOWS_CLOSED, closed, to=office_room(ref))
        return {"message": AGENT_DELETED, "ref_office": ref, "agent_id": agent_id, "windows": windows}

    async def reset(self, who: Principal, ref: str) -> dict[str, Any]:
        """Reset a managed office's counters; tell trackers, holders of expired numbers and managers."""
        await self.managed(who, ref)
        reset = await self.offices.reset_counters(ref, who.user_id, self.clock())
        entry = reset.entry
        await self.counter.push_counter(ref, 0, None, entry.at)
        for number in reset.expired:
            told = CountersReset(ref_office=ref, number=number.number, status=number.status, at=entry.at)
            await self.emitter.push(COUNTERS_RESET, told, to=user_room(number.user_id))
        await self.stats.push(ref)
        return {**entry.model_dump(mode="json"), "message": COUNTERS_RESET_MESSAGE}

    async def audit(self, who: Principal, ref: str, limit: int) -> list[AuditEntry]:
        """Return a managed office's newest ``limit`` audit entries."""
        await self.managed(who, ref)
        return await self.offices.audit(ref, limit)


class TrackingService:
    """Finding offices and following them live; a signed-in user's choice is remembered across connections."""

    def __init__(self, offices: OfficeStore, tracking: TrackingStore, emitter: Emitter, clock: Clock) -> None:
        self.offices = offices
        self.tracking = tracking
        self.emitter = emitter
        self.clock = clock

    async def search(self, query: str, limit: int) -> dict[str, Any]:
        """Return the public view of live offices matching ``query``."""
        return {"offices": [o.public() for o in await self.offices.search_offices(query, limit)]}

    async def track(self, user_id: str | None, refs: list[str]) -> list[Office]:
        """Return the offices ``refs`` (``NotFound`` naming any unknown or deleted), remembered for a signed-in user."""
        offices = await self.offices.live_offices(refs)
        missing = sorted(set(refs) - {o.ref_office for o in offices})
        if missing:
            raise NotFound(f"no such office (or deleted): {', '.join(missing)}", {"ref_offices": missing})
        if user_id is not None:  # remembered for the user's next connection
            await self.tracking.track(user_id, refs, self.clock())
        return offices

    async def untrack(self, user_id: str | None, refs: list[str]) -> None:
        """Forget that a signed-in user tracks ``refs``."""
        if user_id is not None:
            await self.tracking.untrack(user_id, refs)

    async def restore(self, user_id: str) -> list[Office]:
        """Return the live offices the user tracks, forgetting the ones deleted since."""
        refs = await self.tracking.tracked_by(user_id)
        if not refs:
            return []
        offices = await self.offices.live_offices(refs)
        gone = sorted(set(refs) - {o.ref_office for o in offices})
        if gone:  # deleted since: stop remembering them
            await self.tracking.untrack(user_id, gone)
        return offices

    async def restored(self, sid: str, tracking: list[str], offices: list[Office]) -> None:
        """Tell socket ``sid`` which offices it tracks again, with their current state."""
        told = TrackingRestored.model_validate({"tracking": tracking, "offices": [o.public() for o in offices]})
        await self.emitter.push(TRACKING_RESTORED, told, to=sid)


@dataclass(frozen=True, slots=True)
class QueueServices:
    """The queue's services, built once by ``wiring.py`` over the queue stores."""

    offices: OfficeService
    counter: CounterService
    numbers: NumberService
    stats: StatsService
    tracking: TrackingService

    @classmethod
    def build(
        cls, store: QueueStore, accounts: AccountService, notify: NotifyService, emitter: Emitter, clock: Clock
    ) -> QueueServices:
        """Build every queue service over ``store``'s aggregates."""
        stats = StatsService(store.serving, emitter, clock)
        counter = CounterService(store.serving, store.numbers, stats, notify, emitter, clock)
        return cls(
            offices=OfficeService(store.offices, accounts, counter, stats, emitter, clock),
            counter=counter,
            numbers=NumberService(store.offices, store.numbers, counter, stats, clock),
            stats=stats,
            tracking=TrackingService(store.offices, store.tracking, emitter, clock),
        )
