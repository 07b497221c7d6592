"""Queue counter events: managers' offices and statistics, agents' presses, clients' tracking and numbers."""

from __future__ import annotations

from typing import Any

import socketio

from handlers.access import ANONYMOUS, SIGNED_IN, roles
from handlers.context import EventContext, SessionHook
from handlers.events import EventRouter, NoPayload
from models.queue import (
    AssignAgentPayload,
    CreateOfficePayload,
    DeleteAgentPayload,
    Office,
    OfficeAuditPayload,
    OfficeRefPayload,
    OfficeStatsPayload,
    SearchOfficesPayload,
    TrackOfficesPayload,
    UpdateOfficePayload,
    WatchStatsPayload,
    WindowPayload,
)
from models.queue_views import OfficeStats
from models.roles import PRINCIPAL_KEY, Principal, Role
from models.rooms import office_managers_room, office_room
from services.bundle import Services
from services.queue import TrackingService

MANAGERS = roles(Role.MANAGER, Role.ADMIN)
STAFF = roles(Role.MANAGER, Role.ADMIN, Role.AGENT)
AGENTS = roles(Role.AGENT)
TRACKING = "queue_tracking"  # session key: the offices this socket tracks
RESTORED_FOR = "queue_tracking_restored_for"  # session key: the user whose tracking this socket restored
TRACKING_ON = "enable notifications for offices applied successfully"
TRACKING_OFF = "disable notifications for offices applied successfully"


def register(router: EventRouter, services: Services) -> None:
    """Declare the queue events."""
    register_managers(router, services)
    register_agents(router, services)
    register_clients(router, services)


def register_managers(router: EventRouter, services: Services) -> None:
    """Declare the managers' events: offices, agents, resets, audit and statistics."""
    offices, stats = services.queue.offices, services.queue.stats

    @router.on("create_office", CreateOfficePayload, access=MANAGERS)
    async def create_office(ctx: EventContext, p: CreateOfficePayload) -> Office:
        return await offices.create(ctx.require(), p.name, p.address, p.windows)

    @router.on("update_office", UpdateOfficePayload, access=MANAGERS)
    async def update_office(ctx: EventContext, p: UpdateOfficePayload) -> Office:
        return await offices.update(ctx.require(), p.ref_office, p.name, p.address, p.windows)

    @router.on("delete_office", OfficeRefPayload, access=MANAGERS)
    async def delete_office(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        deleted = await offices.delete(ctx.require(), p.ref_office)
        for room in (office_room(p.ref_office), office_managers_room(p.ref_office)):
            await ctx.deps.sio.close_room(room)
        return deleted

    @router.on("list_my_offices", NoPayload, access=STAFF)
    async def list_my_offices(ctx: EventContext, _: NoPayload) -> dict[str, Any]:
        return await offices.mine(ctx.require())

    @router.on("assign_agent", AssignAgentPayload, access=MANAGERS)
    async def assign_agent(ctx: EventContext, p: AssignAgentPayload) -> dict[str, Any]:
        return await offices.assign_agent(ctx.require(), p.office_id, p.number_window, p.agent_id)

    @router.on("delete_agent", DeleteAgentPayload, access=MANAGERS)
    async def delete_agent(ctx: EventContext, p: DeleteAgentPayload) -> dict[str, Any]:
        return await offices.remove_agent(ctx.require(), p.ref_office, p.agent_id)

    @router.on("reset_counters", OfficeRefPayload, access=MANAGERS)
    async def reset_counters(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        return await offices.reset(ctx.require(), p.ref_office)

    @router.on("office_audit", OfficeAuditPayload, access=MANAGERS)
    async def office_audit(ctx: EventContext, p: OfficeAuditPayload) -> dict[str, Any]:
        return {"ref_office": p.ref_office, "entries": await offices.audit(ctx.require(), p.ref_office, p.limit)}

    @router.on("office_stats", OfficeStatsPayload, access=MANAGERS)
    async def office_stats(ctx: EventContext, p: OfficeStatsPayload) -> OfficeStats:
        await offices.managed(ctx.require(), p.ref_office)
        await ctx.enter(office_managers_room(p.ref_office))  # live office_stats_updated from now on
        return await stats.stats(p.ref_office, p.start, p.end)

    @router.on("watch_office_stats", WatchStatsPayload, access=MANAGERS)
    async def watch_office_stats(ctx: EventContext, p: WatchStatsPayload) -> dict[str, Any]:
        room = office_managers_room(p.ref_office)
        if p.action == "disable":
            await ctx.leave(room)
            return {"ref_office": p.ref_office, "watching": False}
        await offices.managed(ctx.require(), p.ref_office)
        await ctx.enter(room)
        return {"ref_office": p.ref_office, "watching": True, "stats": await stats.stats(p.ref_office)}


def register_agents(router: EventRouter, services: Services) -> None:
    """Declare the agents' events: call the next number, recall it, or mark it a no-show."""
    counter = services.queue.counter

    @router.on("increment_counter", WindowPayload, access=AGENTS)
    async def increment_counter(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        return await counter.call_next(p.ref_office, p.number_window, ctx.require().user_id)

    @router.on("recall", WindowPayload, access=AGENTS)
    async def recall(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        return await counter.recall(p.ref_office, p.number_window, ctx.require().user_id)

    @router.on("no_show", WindowPayload, access=AGENTS)
    async def no_show(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        return await counter.no_show(p.ref_office, p.number_window, ctx.require().user_id)


def register_clients(router: EventRouter, services: Services) -> None:
    """Declare the clients' events: find offices, track them live, take a number, see where you stand."""
    tracking, numbers = services.queue.tracking, services.queue.numbers

    @router.on("search_offices", SearchOfficesPayload, access=ANONYMOUS)
    async def search_offices(ctx: EventContext, p: SearchOfficesPayload) -> dict[str, Any]:
        return await tracking.search(p.q, p.limit)

    @router.on("track_offices", TrackOfficesPayload, access=ANONYMOUS)
    async def track_offices(ctx: EventContext, p: TrackOfficesPayload) -> dict[str, Any]:
        refs = list(dict.fromkeys(p.ref_offices))
        tracked: set[str] = ctx.session.setdefault(TRACKING, set())
        user_id = ctx.principal.user_id if ctx.principal is not None else None
        if p.action == "disable":
            for ref in refs:
                await ctx.leave(office_room(ref))
                tracked.discard(ref)
            await tracking.untrack(user_id, refs)
            return {"message": TRACKING_OFF, "tracking": sorted(tracked), "offices": []}
        offices = await tracking.track(user_id, refs)
        for ref in refs:
            await ctx.enter(office_room(ref))
            tracked.add(ref)
        return {"message": TRACKING_ON, "tracking": sorted(tracked), "offices": [o.public() for o in offices]}

    @router.on("take_number", OfficeRefPayload, access=SIGNED_IN)
    async def take_number(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        return await numbers.take(p.ref_office, ctx.require().user_id)

    @router.on("my_position", OfficeRefPayload, access=SIGNED_IN)
    async def my_position(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        return await numbers.position(p.ref_office, ctx.require().user_id)


def tracking_restorer(sio: socketio.AsyncServer, tracking: TrackingService) -> SessionHook:
    """Return the session hook by which a signed-in user's socket tracks again what the user tracked (any instance)."""

    async def restore_tracking(sid: str, session: dict[str, Any]) -> None:
        principal: Principal | None = session.get(PRINCIPAL_KEY)
        if principal is None:
            session.pop(RESTORED_FOR, None)
            return
        if session.get(RESTORED_FOR) == principal.user_id:
            return
        session[RESTORED_FOR] = principal.user_id
        offices = await tracking.restore(principal.user_id)
        if not offices:
            return
        tracked: set[str] = session.setdefault(TRACKING, set())
        for office in offices:
            await sio.enter_room(sid, office_room(office.ref_office))
            tracked.add(office.ref_office)
        await tracking.restored(sid, sorted(tracked), offices)

    return restore_tracking
