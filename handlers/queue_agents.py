"""Queue counters, the agents' side: call the next number, recall it, or mark it a no-show."""

from __future__ import annotations

from typing import Any

from handlers.context import EventContext
from handlers.events import EventRouter
from handlers.queue_service import QueueService
from models.queue import WindowPayload
from models.roles import Role
from models.rooms import office_room

AGENTS = (Role.AGENT,)


def register(router: EventRouter, service: QueueService) -> None:
    """Register ``increment_counter``, ``recall`` and ``no_show``."""
    deps, store = service.deps, service.store

    @router.on("increment_counter", WindowPayload, roles=AGENTS)
    async def increment_counter(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        called = await store.call_next(p.ref_office, p.number_window, ctx.require().user_id, deps.clock())
        s = called.service
        await service.push_counter(s.ref_office, s.number, s.number_window, s.called_at)
        await service.called(called)
        await service.push_stats(s.ref_office)
        return {"counter": s.number, "ref_office": s.ref_office, "number_window": s.number_window, "at": s.called_at}

    @router.on("recall", WindowPayload, roles=AGENTS)
    async def recall(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        s = await store.recall(p.ref_office, p.number_window, ctx.require().user_id)
        at = deps.clock()
        data = {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window, "recalls": s.recalls}
        await deps.emit("number_recalled", {**data, "at": at}, to=office_room(s.ref_office))
        holder = await store.find_number(s.ref_office, s.epoch, s.number)
        if holder is not None and holder.status == "called":
            await service.announce_turn(holder, at, recalls=s.recalls)
        return data

    @router.on("no_show", WindowPayload, roles=AGENTS)
    async def no_show(ctx: EventContext, p: WindowPayload) -> dict[str, Any]:
        now = deps.clock()
        skipped = await store.mark_no_show(p.ref_office, p.number_window, ctx.require().user_id, now)
        s, holder = skipped.service, skipped.holder  # the holder's number became a no-show in the same step
        data = {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window, "at": now}
        await deps.emit("number_no_show", data, to=office_room(s.ref_office))
        if holder is not None:
            body = f"Number {s.number} was not answered at window {s.number_window}."
            await service.tell(holder, "your_turn_missed", "You missed your turn", body, data)
        await service.push_stats(s.ref_office)
        return {"ref_office": s.ref_office, "number": s.number, "number_window": s.number_window}
