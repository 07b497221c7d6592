"""Presence events: read, watch and unwatch users' statuses; set one's own (the use cases: services/presence.py)."""

from __future__ import annotations

from typing import Any

from handlers.access import SIGNED_IN
from handlers.context import EventContext
from handlers.events import EventRouter
from models.presence import SetStatusPayload, Status, UserIdsPayload
from models.rooms import presence_room
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the presence events."""
    presence = services.presence

    @router.on("get_presence", UserIdsPayload, access=SIGNED_IN)
    async def get_presence(ctx: EventContext, p: UserIdsPayload) -> dict[str, Any]:
        return {"statuses": await presence.statuses(p.user_ids)}

    @router.on("watch_presence", UserIdsPayload, access=SIGNED_IN)
    async def watch_presence(ctx: EventContext, p: UserIdsPayload) -> dict[str, Any]:
        for user_id in p.user_ids:
            await ctx.enter(presence_room(user_id))
        return {"statuses": await presence.statuses(p.user_ids)}

    @router.on("unwatch_presence", UserIdsPayload, access=SIGNED_IN)
    async def unwatch_presence(ctx: EventContext, p: UserIdsPayload) -> dict[str, Any]:
        for user_id in p.user_ids:
            await ctx.leave(presence_room(user_id))
        return {"user_ids": p.user_ids}

    @router.on("set_status", SetStatusPayload, access=SIGNED_IN)
    async def set_status(ctx: EventContext, p: SetStatusPayload) -> dict[str, Any]:
        who = ctx.require()
        return {"user_id": who.user_id, "status": await presence.set_status(who, Status(p.status))}
