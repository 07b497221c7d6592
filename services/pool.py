"""Pull assignment: admins load a pool, agents fetch the oldest tickets (capped) and sell them."""

from __future__ import annotations

import html
import logging
from typing import Any

from models.accounts import User
from models.clock import Clock
from models.errors import Forbidden, InvalidPayload
from models.notify import Kind
from models.pool import (
    POOL_CHANGED,
    Claim,
    Customer,
    ListPoolTicketsPayload,
    NewPoolTicket,
    PoolChanged,
    PoolCounts,
    PoolTicket,
    Sale,
)
from models.roles import Principal, Role
from models.rooms import pool_admins_room
from notify.templates import render_html, render_text
from services.accounts import AccountService
from services.emitter import Emitter
from services.notify import NotifyService
from storage.cursor import decode_cursor, encode_cursor
from storage.pool import PoolStore

log = logging.getLogger("deskline.pool")


class PoolService:
    """The ticket pool over a ``PoolStore``; every change pushes the counts to the watching admins."""

    def __init__(
        self,
        store: PoolStore,
        accounts: AccountService,
        notify: NotifyService,
        emitter: Emitter,
        clock: Clock,
        hold_limit: int,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.notify = notify
        self.emitter = emitter
        self.clock = clock
        self.limit = hold_limit

    async def announce(self, counts: PoolCounts) -> None:
        """Push the pool's counts after a change to the watching admins (on every instance)."""
        await self.emitter.push(POOL_CHANGED, PoolChanged.of(counts), to=pool_admins_room())

    async def account_changed(self, user: User) -> None:
        """Account hook: a deactivated agent, or one given another role, can never sell: return its tickets."""
        if user.active and user.role == Role.AGENT:
            return
        released = await self.store.release_held(user.id)
        if released.ids:
            log.info("event=pool_release user=%s tickets=%d", user.id, len(released.ids))
            await self.announce(released.counts)

    async def create(self, items: list[NewPoolTicket]) -> list[str]:
        """Load tickets into the pool; return their ids in creation order."""
        loaded = await self.store.add_tickets(items, self.clock)
        await self.announce(loaded.counts)
        return loaded.ids

    async def fetch(self, agent_id: str) -> Claim:
        """Give the agent the oldest unassigned tickets up to its limit; return everything it holds."""
        claim = await self.store.claim_unassigned(agent_id, self.limit, self.clock)
        await self.announce(claim.counts)  # after every fetch, even one that claimed nothing
        return claim

    async def sell(self, agent_id: str, ticket_ids: list[str], customer: Customer) -> Sale:
        """Sell tickets the agent holds to ``customer``, then confirm it to them."""
        if len(ticket_ids) > self.limit:
            raise InvalidPayload(
                f"sell at most {self.limit} tickets at once",
                [{"field": "ticket_ids", "message": f"{len(ticket_ids)} ids; the limit is {self.limit}"}],
            )
        sold = await self.store.sell(agent_id, ticket_ids, customer, self.clock)
        await self.announce(sold.counts)
        await self.confirm_sale(customer, sold.tickets)
        return Sale.model_validate(
            {"tickets": sold.tickets, "customer": customer.model_dump(), "sold_at": sold.tickets[0].sold_at}
        )

    async def page(self, who: Principal, p: ListPoolTicketsPayload) -> dict[str, Any]:
        """Return one page of tickets: any for admins, only the caller's for agents."""
        agent_id = p.agent_id
        if who.role == Role.AGENT:
            if agent_id not in (None, who.user_id):
                raise Forbidden("agents may only list their own tickets", {"agent_id": agent_id})
            agent_id = who.user_id
        after = decode_cursor(p.cursor) if p.cursor else None
        rows = await self.store.list_tickets(p.status, agent_id, after, p.limit + 1)
        page = rows[: p.limit]
        cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > p.limit else None
        return {"tickets": page, "next_cursor": cursor}

    async def counts(self) -> PoolChanged:
        """Return the pool's counts now."""
        return PoolChanged.of(await self.store.counts())

    async def confirm_sale(self, customer: Customer, sold: list[PoolTicket]) -> None:
        """Confirm a sale to the customer: as a notification when they have an active account, else by email.

        The confirmation is transactional: a customer whose account is deactivated still gets the email.
        A failure here is logged and never undoes the sale.
        """
        try:
            titles = ", ".join(t.title for t in sold)
            user = await self.accounts.store.find_by_contact(customer.email, None)
            if user is not None and user.active:
                await self.notify.notify(
                    user.id,
                    Kind.POOL_TICKETS_SOLD,
                    "Purchase confirmed",
                    f"{len(sold)} ticket(s) sold to you: {titles}",
                    {"ticket_ids": [t.id for t in sold], "sold_at": sold[0].sold_at, "agent_id": sold[0].agent_id},
                )
                return
            values: dict[str, Any] = {"name": customer.name, "count": len(sold), "sold_at": sold[0].sold_at}
            await self.notify.email(
                customer.email,
                "Purchase confirmed",
                render_text("sale_confirmation", titles="\n".join(f"- {t.title}" for t in sold), **values),
                render_html("sale_confirmation", items=_html_items(sold), raw=frozenset({"items"}), **values),
                kind=Kind.POOL_TICKETS_SOLD,
                user_id=user.id if user is not None else None,
            )
        except Exception:
            log.exception("event=sell_tickets code=internal in=confirm_sale")


def _html_items(sold: list[PoolTicket]) -> str:
    """Return the sold tickets as escaped HTML list items."""
    return "".join(f"<li>{html.escape(t.title)}</li>" for t in sold)
