"""Pool events: admins load and watch the pool, agents fetch and sell (the use cases: services/pool.py)."""

from __future__ import annotations

from typing import Any

from handlers.access import ADMIN, SIGNED_IN, roles
from handlers.context import EventContext
from handlers.events import EventRouter, NoPayload
from models.pool import (
    CreatePoolTicketsPayload,
    FetchTicketsPayload,
    ListPoolTicketsPayload,
    PoolChanged,
    Sale,
    SellTicketsPayload,
)
from models.roles import Role
from models.rooms import pool_admins_room
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the pool events."""
    pool = services.pool

    @router.on("create_pool_tickets", CreatePoolTicketsPayload, access=ADMIN)
    async def create_pool_tickets(ctx: EventContext, p: CreatePoolTicketsPayload) -> dict[str, Any]:
        ids = await pool.create(p.items())
        return {"ids": ids, "count": len(ids)}

    @router.on("fetch_tickets", FetchTicketsPayload, access=roles(Role.AGENT))
    async def fetch_tickets(ctx: EventContext, p: FetchTicketsPayload) -> dict[str, Any]:
        claim = await pool.fetch(ctx.require().user_id)
        return {
            "tickets": claim.tickets,
            "claimed": claim.claimed,
            "limit": pool.limit,
            "limit_reached": claim.held_before >= pool.limit,
        }

    @router.on("sell_tickets", SellTicketsPayload, access=roles(Role.AGENT))
    async def sell_tickets(ctx: EventContext, p: SellTicketsPayload) -> Sale:
        return await pool.sell(ctx.require().user_id, p.ticket_ids, p.customer)

    @router.on("list_pool_tickets", ListPoolTicketsPayload, access=roles(Role.ADMIN, Role.AGENT))
    async def list_pool_tickets(ctx: EventContext, p: ListPoolTicketsPayload) -> dict[str, Any]:
        return await pool.page(ctx.require(), p)

    @router.on("watch_pool", NoPayload, access=ADMIN)
    async def watch_pool(ctx: EventContext, _: NoPayload) -> PoolChanged:
        await ctx.enter(pool_admins_room())
        return await pool.counts()

    @router.on("unwatch_pool", NoPayload, access=SIGNED_IN)
    async def unwatch_pool(ctx: EventContext, _: NoPayload) -> dict[str, Any]:
        await ctx.leave(pool_admins_room())
        return {"watching": False}
