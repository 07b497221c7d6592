"""Queue counters, the clients' side: find offices, track them live, take a number, see where you stand."""

from __future__ import annotations

from typing import Any

from handlers.context import EventContext
from handlers.events import EventRouter
from handlers.queue_service import QueueService
from handlers.rooms import office_room
from models.errors import NotFound
from models.queue import OfficeRefPayload, SearchOfficesPayload, TrackOfficesPayload

TRACKING = "queue_tracking"


def register(router: EventRouter, service: QueueService) -> None:
    """Register ``search_offices``, ``track_offices``, ``take_number`` and ``my_position``."""
    deps, store = service.deps, service.store

    @router.on("search_offices", SearchOfficesPayload)
    async def search_offices(ctx: EventContext, p: SearchOfficesPayload) -> dict[str, Any]:
        return {"offices": [o.public() for o in await store.search_offices(p.q, p.limit)]}

    @router.on("track_offices", TrackOfficesPayload)
    async def track_offices(ctx: EventContext, p: TrackOfficesPayload) -> dict[str, Any]:
        refs = list(dict.fromkeys(p.ref_offices))
        tracking: set[str] = ctx.session.setdefault(TRACKING, set())
        if p.action == "disable":
            for ref in refs:
                await ctx.leave(office_room(ref))
                tracking.discard(ref)
            return {"tracking": sorted(tracking), "offices": []}
        offices = await store.live_offices(refs)
        missing = sorted(set(refs) - {o.ref_office for o in offices})
        if missing:
            raise NotFound(f"no such office (or deleted): {', '.join(missing)}", {"ref_offices": missing})
        for ref in refs:
            await ctx.enter(office_room(ref))
            tracking.add(ref)
        return {"tracking": sorted(tracking), "offices": [o.public() for o in offices]}

    @router.on("take_number", OfficeRefPayload, signed_in=True)
    async def take_number(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        user_id = ctx.require().user_id
        number = await store.take_number(p.ref_office, user_id, deps.clock())
        already = await store.find_service(p.ref_office, number.epoch, number.number)
        if already is not None:  # an agent called this number between our two writes
            holder = await store.mark_called(
                p.ref_office, number.epoch, number.number, already.number_window, already.called_at
            )
            if holder is not None:
                await service.announce_turn(holder, already.called_at)
        office = await store.get_office(p.ref_office)
        if office.epoch == number.epoch:
            await service.warn_soon(p.ref_office, number.epoch, office.counter)
        current = await store.latest_number(p.ref_office, number.epoch, user_id) or number
        return await service.estimate(office, current)

    @router.on("my_position", OfficeRefPayload, signed_in=True)
    async def my_position(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        office = await store.get_office(p.ref_office)
        number = await store.latest_number(p.ref_office, office.epoch, ctx.require().user_id)
        if number is None:
            raise NotFound(f"you hold no number at {p.ref_office}; send take_number", {"ref_office": p.ref_office})
        return await service.estimate(office, number)
