"""Ticket activity events: ``helpdesk_stats`` (which also starts watching) and ``unwatch_helpdesk_stats``."""

from __future__ import annotations

from typing import Any

from handlers.access import roles
from handlers.context import EventContext
from handlers.events import EventRouter
from models.helpdesk import WorkspaceRefPayload
from models.helpdesk_stats import HelpdeskStats, HelpdeskStatsPayload
from models.roles import Role
from services.bundle import Services

MANAGERS = roles(Role.ADMIN, Role.MANAGER)


def register(router: EventRouter, services: Services) -> None:
    """Declare the ticket activity events."""
    stats = services.helpdesk_stats

    @router.on("helpdesk_stats", HelpdeskStatsPayload, access=MANAGERS)
    async def helpdesk_stats(ctx: EventContext, p: HelpdeskStatsPayload) -> HelpdeskStats:
        who = ctx.require()
        answer = await stats.stats(who, p.workspace_id, p.from_ms, p.to_ms)
        await ctx.enter(stats.room(who, p.workspace_id))  # pushes go only to current managers: no re-check needed
        return answer

    @router.on("unwatch_helpdesk_stats", WorkspaceRefPayload, access=MANAGERS)
    async def unwatch_helpdesk_stats(ctx: EventContext, p: WorkspaceRefPayload) -> dict[str, Any]:
        await ctx.leave(stats.room(ctx.require(), p.workspace_id))
        return {"workspace_id": p.workspace_id}
