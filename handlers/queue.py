"""Queue counters, the managers' side: offices, windows, agents, resets, audit and statistics.

Agents' events live in handlers/queue_agents.py, clients' and trackers' in handlers/queue_clients.py.
"""

from __future__ import annotations

from typing import Any

from handlers import queue_agents, queue_clients
from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from handlers.queue_service import QueueService
from models.errors import InvalidPayload
from models.queue import (
    AssignAgentPayload,
    CreateOfficePayload,
    DeleteAgentPayload,
    Office,
    OfficeAuditPayload,
    OfficeRefPayload,
    OfficeStatsPayload,
    UpdateOfficePayload,
    WatchStatsPayload,
)
from models.roles import Role
from models.rooms import office_managers_room, office_room, user_room
from storage.queue import make_queue_store

MANAGERS = (Role.MANAGER, Role.ADMIN)
ASSIGNED_EXISTING = "Agent assigned to existing window successfully"
ASSIGNED_NEW = "Agent assigned to new window successfully"
OFFICE_DELETED = "office was deleted successfully"
AGENT_DELETED = "Agent deleted successfully"
COUNTERS_RESET = "Counters reset successfully"


async def setup(deps: Deps) -> EventRouter:
    """Register every queue event (managers', agents' and clients')."""
    store = make_queue_store(deps.db)
    await store.init()
    service = QueueService(deps, store)
    router = EventRouter(deps)

    @router.on("create_office", CreateOfficePayload, roles=MANAGERS)
    async def create_office(ctx: EventContext, p: CreateOfficePayload) -> Office:
        who = ctx.require()
        return await store.create_office(p.name, p.address, p.windows, who.user_id, deps.clock())

    @router.on("update_office", UpdateOfficePayload, roles=MANAGERS)
    async def update_office(ctx: EventContext, p: UpdateOfficePayload) -> Office:
        await service.managed_office(ctx.require(), p.ref_office)
        return await store.update_office(p.ref_office, p.name, p.address, p.windows)

    @router.on("delete_office", OfficeRefPayload, roles=MANAGERS)
    async def delete_office(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        office = await service.managed_office(ctx.require(), p.ref_office)
        now = deps.clock()
        holders = await store.delete_office(p.ref_office, now)
        rooms = [office_room(p.ref_office), office_managers_room(p.ref_office)]
        agents = sorted({w.agent_id for w in office.windows if w.agent_id})
        told = rooms + [user_room(user_id) for user_id in [*holders, *agents]]
        await deps.emit("office_deleted", {"ref_office": p.ref_office, "at": now}, to=told)  # once per socket
        for room in rooms:
            await deps.sio.close_room(room)
        return {"message": OFFICE_DELETED, "ref_office": p.ref_office, "deleted": True, "expired_numbers": len(holders)}

    @router.on("list_my_offices", roles=(Role.MANAGER, Role.ADMIN, Role.AGENT))
    async def list_my_offices(ctx: EventContext, _: Any) -> dict[str, Any]:
        who = ctx.require()
        if who.role == Role.AGENT:
            return {"offices": await store.offices_staffed_by(who.user_id)}
        return {"offices": await store.offices_managed_by(who.user_id)}

    @router.on("assign_agent", AssignAgentPayload, roles=MANAGERS)
    async def assign_agent(ctx: EventContext, p: AssignAgentPayload) -> dict[str, Any]:
        who = ctx.require()
        await service.managed_office(who, p.office_id)
        agent = await deps.accounts.store.get_user(p.agent_id)
        if agent.role != Role.AGENT or not agent.active:
            state = agent.role.value if agent.active else "deactivated"
            raise InvalidPayload(
                f"user {p.agent_id} is not an active agent ({state})",
                [{"field": "agent_id", "message": "must be an active agent", "type": "agent"}],
            )
        created = await store.assign_agent(p.office_id, p.number_window, p.agent_id, who.user_id, deps.clock())
        return {
            "message": ASSIGNED_NEW if created else ASSIGNED_EXISTING,
            "ref_office": p.office_id,
            "number_window": p.number_window,
            "agent_id": p.agent_id,
            "new_window": created,
        }

    @router.on("delete_agent", DeleteAgentPayload, roles=MANAGERS)
    async def delete_agent(ctx: EventContext, p: DeleteAgentPayload) -> dict[str, Any]:
        who = ctx.require()
        await service.managed_office(who, p.ref_office)
        now = deps.clock()
        windows = await store.remove_agent(p.ref_office, p.agent_id, who.user_id, now)  # not_found if it frees none
        closed = {"ref_office": p.ref_office, "windows": windows, "at": now}
        await deps.emit("agent_removed", {**closed, "agent_id": p.agent_id}, to=user_room(p.agent_id))
        await deps.emit("windows_closed", closed, to=office_room(p.ref_office))
        return {"message": AGENT_DELETED, "ref_office": p.ref_office, "agent_id": p.agent_id, "windows": windows}

    @router.on("reset_counters", OfficeRefPayload, roles=MANAGERS)
    async def reset_counters(ctx: EventContext, p: OfficeRefPayload) -> dict[str, Any]:
        who = ctx.require()
        await service.managed_office(who, p.ref_office)
        reset = await store.reset_counters(p.ref_office, who.user_id, deps.clock())
        entry = reset.entry
        await service.push_counter(p.ref_office, 0, None, entry.at)
        for number in reset.expired:
            told = {"ref_office": p.ref_office, "number": number.number, "status": number.status, "at": entry.at}
            await deps.emit("counters_reset", told, to=user_room(number.user_id))
        await service.push_stats(p.ref_office)
        return {**entry.model_dump(mode="json"), "message": COUNTERS_RESET}

    @router.on("office_audit", OfficeAuditPayload, roles=MANAGERS)
    async def office_audit(ctx: EventContext, p: OfficeAuditPayload) -> dict[str, Any]:
        await service.managed_office(ctx.require(), p.ref_office)
        return {"ref_office": p.ref_office, "entries": await store.audit(p.ref_office, p.limit)}

    @router.on("office_stats", OfficeStatsPayload, roles=MANAGERS)
    async def office_stats(ctx: EventContext, p: OfficeStatsPayload) -> dict[str, Any]:
        await service.managed_office(ctx.require(), p.ref_office)
        await ctx.enter(office_managers_room(p.ref_office))  # live office_stats_updated from now on
        return await service.stats(p.ref_office, p.start, p.end)

    @router.on("watch_office_stats", WatchStatsPayload, roles=MANAGERS)
    async def watch_office_stats(ctx: EventContext, p: WatchStatsPayload) -> dict[str, Any]:
        room = office_managers_room(p.ref_office)
        if p.action == "disable":
            await ctx.leave(room)
            return {"ref_office": p.ref_office, "watching": False}
        await service.managed_office(ctx.require(), p.ref_office)
        await ctx.enter(room)
        return {"ref_office": p.ref_office, "watching": True, "stats": await service.stats(p.ref_office)}

    queue_agents.register(router, service)
    queue_clients.register(router, service)
    return router
