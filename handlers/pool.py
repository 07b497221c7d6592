"""Pull assignment: admins load a pool, agents fetch the oldest tickets (capped) and sell them."""

from __future__ import annotations

import html
import logging
from typing import Any

from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from models.accounts import User
from models.errors import Forbidden, InvalidPayload
from models.pool import (
    CreatePoolTicketsPayload,
    Customer,
    FetchTicketsPayload,
    ListPoolTicketsPayload,
    PoolCounts,
    PoolTicket,
    Sale,
    SellTicketsPayload,
)
from models.roles import Role
from models.rooms import pool_admins_room
from notify.templates import render_html, render_text
from storage.cursor import decode_cursor, encode_cursor
from storage.pool import PoolStore, make_pool_store

log = logging.getLogger("deskline.pool")

POOL_CHANGED = "pool_changed"
SALE_NOTIFICATION = "pool_tickets_sold"


def counts_push(counts: PoolCounts) -> dict[str, Any]:
    """Return the ``pool_changed`` payload: counts by status and their total."""
    return {"counts": counts.model_dump(), "total": counts.total}


async def setup(deps: Deps) -> EventRouter:
    """Register the pool events."""
    store = make_pool_store(deps.db)
    await store.init()
    router = EventRouter(deps)
    limit = deps.settings.pool_hold_limit

    async def announce(counts: PoolCounts) -> None:
        """Push the pool's counts after a change to the watching admins (on every instance)."""
        await deps.emit(POOL_CHANGED, counts_push(counts), to=pool_admins_room())

    async def release_if_no_longer_agent(user: User) -> None:
        """A deactivated agent, or one given another role, can never sell: return its tickets to the pool."""
        if user.active and user.role == Role.AGENT:
            return
        released = await store.release_held(user.id)
        if released.ids:
            log.info("event=pool_release user=%s tickets=%d", user.id, len(released.ids))
            await announce(released.counts)

    deps.account_hooks.append(release_if_no_longer_agent)

    @router.on("create_pool_tickets", CreatePoolTicketsPayload, roles=(Role.ADMIN,))
    async def create_pool_tickets(ctx: EventContext, p: CreatePoolTicketsPayload) -> dict[str, Any]:
        loaded = await store.add_tickets(p.items(), deps.clock)
        await announce(loaded.counts)
        return {"ids": loaded.ids, "count": len(loaded.ids)}

    @router.on("fetch_tickets", FetchTicketsPayload, roles=(Role.AGENT,))
    async def fetch_tickets(ctx: EventContext, p: FetchTicketsPayload) -> dict[str, Any]:
        claim = await store.claim_unassigned(ctx.require().user_id, limit, deps.clock)
        await announce(claim.counts)  # after every fetch, even one that claimed nothing
        return {
            "tickets": claim.tickets,
            "claimed": claim.claimed,
            "limit": limit,
            "limit_reached": claim.held_before >= limit,
        }

    @router.on("sell_tickets", SellTicketsPayload, roles=(Role.AGENT,))
    async def sell_tickets(ctx: EventContext, p: SellTicketsPayload) -> Sale:
        if len(p.ticket_ids) > limit:
            raise InvalidPayload(
                f"sell at most {limit} tickets at once",
                [{"field": "ticket_ids", "message": f"{len(p.ticket_ids)} ids; the limit is {limit}"}],
            )
        sold = await store.sell(ctx.require().user_id, p.ticket_ids, p.customer, deps.clock)
        await announce(sold.counts)
        await confirm_sale(deps, p.customer, sold.tickets)
        return Sale.model_validate(
            {"tickets": sold.tickets, "customer": p.customer.model_dump(), "sold_at": sold.tickets[0].sold_at}
        )

    @router.on("list_pool_tickets", ListPoolTicketsPayload, roles=(Role.ADMIN, Role.AGENT))
    async def list_pool_tickets(ctx: EventContext, p: ListPoolTicketsPayload) -> dict[str, Any]:
        return await list_page(store, ctx, p)

    @router.on("watch_pool", roles=(Role.ADMIN,))
    async def watch_pool(ctx: EventContext, _: Any) -> dict[str, Any]:
        await ctx.enter(pool_admins_room())
        return counts_push(await store.counts())

    @router.on("unwatch_pool", signed_in=True)
    async def unwatch_pool(ctx: EventContext, _: Any) -> dict[str, Any]:
        await ctx.leave(pool_admins_room())
        return {"watching": False}

    return router


async def list_page(store: PoolStore, ctx: EventContext, p: ListPoolTicketsPayload) -> dict[str, Any]:
    """Return one page of tickets: any for admins, only the caller's for agents."""
    who = ctx.require()
    agent_id = p.agent_id
    if who.role == Role.AGENT:
        if agent_id not in (None, who.user_id):
            raise Forbidden("agents may only list their own tickets", {"agent_id": agent_id})
        agent_id = who.user_id
    after = decode_cursor(p.cursor) if p.cursor else None
    rows = await store.list_tickets(p.status, agent_id, after, p.limit + 1)
    page = rows[: p.limit]
    cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > p.limit else None
    return {"tickets": page, "next_cursor": cursor}


async def confirm_sale(deps: Deps, customer: Customer, sold: list[PoolTicket]) -> None:
    """Confirm a sale to the customer: as a notification when they have an active account, else by email.

    The confirmation is transactional: a customer whose account is deactivated still gets the email.
    A failure here is logged and never undoes the sale.
    """
    try:
        titles = ", ".join(t.title for t in sold)
        user = await deps.accounts.store.find_by_contact(customer.email, None)
        if user is not None and user.active:
            await deps.notifier.notify(
                user.id,
                SALE_NOTIFICATION,
                "Purchase confirmed",
                f"{len(sold)} ticket(s) sold to you: {titles}",
                {"ticket_ids": [t.id for t in sold], "sold_at": sold[0].sold_at, "agent_id": sold[0].agent_id},
            )
            return
        values: dict[str, Any] = {"name": customer.name, "count": len(sold), "sold_at": sold[0].sold_at}
        await deps.notifier.email(
            customer.email,
            "Purchase confirmed",
            render_text("sale_confirmation", titles="\n".join(f"- {t.title}" for t in sold), **values),
            render_html("sale_confirmation", items=_html_items(sold), raw=frozenset({"items"}), **values),
            kind=SALE_NOTIFICATION,
            user_id=user.id if user is not None else None,
        )
    except Exception:
        log.exception("event=sell_tickets code=internal in=confirm_sale")


def _html_items(sold: list[PoolTicket]) -> str:
    """Return the sold tickets as escaped HTML list items."""
    return "".join(f"<li>{html.escape(t.title)}</li>" for t in sold)
