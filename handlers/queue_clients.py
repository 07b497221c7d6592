"""Queue counters, the clients' side: find offices, track them live, take a number, see where you stand."""

from __future__ import annotations

from typing import Any

from handlers.context import EventContext
from handlers.events import EventRouter
from handlers.queue_service import QueueService
from models.errors import NotFound
from models.queue import OfficeRefPayload, SearchOfficesPayload, TrackOfficesPayload
from models.roles import Principal
from models.rooms import office_room

TRACKING = "queue_tracking"
RESTORED_FOR = "queue_tracking_restored_for"
TRACKING_ON = "enable notifications for offices applied successfully"
TRACKING_OFF = "disable notifications for offices applied successfully"


def register(router: EventRouter, service: QueueService) -> None:
    """Register ``search_offices``, ``track_offices``, ``take_number`` and ``my_position``."""
    deps, store = service.deps, service.store

    async def restore_tracking(sid: str, session: dict[str, Any]) -> None:
        """Session hook: a signed-in user's socket tracks again what the user tracked, on any instance."""
        principal: Principal | None = session.get("principal")
        if principal is None:
            session.pop(RESTORED_FOR, None)
            return
        if session.get(RESTORED_FOR) == principal.user_id:
            return
        session[RESTORED_FOR] = principal.user_id
        refs = await store.tracked_by(principal.user_id)
        if not refs:
            return
        offices = await store.live_offices(refs)
        gone = sorted(set(refs) - {o.ref_office for o in offices})
        if gone:  # deleted since: stop remembering them
            await store.untrack(principal.user_id, gone)
        if not offices:
            return
        tracking: set[str] = session.setdefault(TRACKING, set())
        for office in offices:
            await deps.sio.enter_room(sid, office_room(office.ref_office))
            tracking.add(office.ref_office)
        restored = {"tracking": sorted(tracking), "offices": [o.public() for o in offices]}
        await deps.emit("tracking_restored", restored, to=sid)

    deps.session_hooks.append(restore_tracking)

    @router.on("search_offices", SearchOfficesPayload)
    async def search_offices(ctx: EventContext, p: SearchOfficesPayload) -> dict[str, Any]:
        return {"offices": [o.public() for o in await store.search_offices(p.q, p.limit)]}

    @router.on("track_offices", TrackOfficesPayload)
    async def track_offices(ctx: EventContext, p: TrackOfficesPayload) -> dict[str, Any]:
        refs = list(dict.fromkeys(p.ref_offices))
        tracking: set[str] = ctx.session.setdefault(TRACKING, set())
        who = ctx.principal
        if p.action == "disable":
            for ref in refs:
                await ctx.leave(office_room(ref))
                tracking.discard(ref)
            if who is not None:
                await store.untrack(who.user_id, refs)
            return {"message": TRACKING_OFF, "tracking": sorted(tracking), "offices": []}
        offices = await store.live_offices(refs)
        missing = sorted(set(refs) - {o.ref_office for o in offices})
        if missing:
            raise NotFound(f"no such office (or deleted): {', '.join(missing)}", {"ref_offices": missing})
        if who is not None:  # remembered for the user's next connection
            await store.track(who.user_id, refs, deps.clock())
        for ref in refs:
            await ctx.enter(office_room(ref))
            tracking.add(ref)
        return {"message": TRACKING_ON, "tracking": sorted(tracking), "offices": [o.public() for o in offices]}

    @router.on("take_number", OfficeRefPayload, signed_in=True)
    async def take_number(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        user_id = ctx.require().user_id
        number = await store.take_number(p.ref_office, user_id, deps.clock())  # a press calling it marks it itself
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
