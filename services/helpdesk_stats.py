"""Ticket activity for admins and workspace managers (``helpdesk_stats``), and its debounced live signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from models.clock import Clock
from models.errors import Forbidden, NotFound
from models.helpdesk_stats import HELPDESK_STATS_UPDATED, HelpdeskStats, HelpdeskStatsUpdated
from models.roles import Principal, Role
from models.rooms import helpdesk_stats_room
from models.tickets import Ticket
from services.accounts import AccountService
from services.emitter import Emitter
from storage.helpdesk_stats import DONE, HelpdeskStatsStore, workspace_activity
from storage.workspaces import WorkspaceStore

MANAGERS_ONLY = "only an admin or a manager of this workspace may see its ticket activity"

log = logging.getLogger("deskline.helpdesk_stats")


class HelpdeskStatsService:
    """Statistics over a ``HelpdeskStatsStore``; ``ticket_changed`` (a helpdesk hook) pushes
    ``helpdesk_stats_updated`` to the watchers at most once per ``debounce_seconds`` per workspace and instance."""

    def __init__(
        self,
        store: HelpdeskStatsStore,
        workspaces: WorkspaceStore,
        accounts: AccountService,
        emitter: Emitter,
        clock: Clock,
        debounce_seconds: float,
    ) -> None:
        self.store = store
        self.workspaces = workspaces
        self.accounts = accounts
        self.emitter = emitter
        self.clock = clock
        self.debounce_seconds = debounce_seconds
        self._pending: dict[str, int] = {}  # workspace id → changes waiting for the next push
        self._timers: set[asyncio.Task[None]] = set()

    async def require_watcher(self, who: Principal, workspace_id: str) -> None:
        """Raise unless the caller is an admin (``NotFound`` for an unknown workspace) or a manager member."""
        if who.role == Role.ADMIN:
            await self.workspaces.get(workspace_id)
            return
        member = await self.workspaces.get_member(workspace_id, who.user_id)
        if who.role != Role.MANAGER or member is None or member.role != "manager":
            raise Forbidden(MANAGERS_ONLY, {"workspace_id": workspace_id})

    def room(self, who: Principal, workspace_id: str) -> str:
        """Return the room a watcher's socket joins: the admins' room, or the manager's own."""
        return helpdesk_stats_room(workspace_id, None if who.role == Role.ADMIN else who.user_id)

    async def stats(self, who: Principal, workspace_id: str, from_ms: int, to_ms: int) -> HelpdeskStats:
        """Return the workspace's activity over ``[from_ms, to_ms)``, each agent with their account name."""
        await self.require_watcher(who, workspace_id)
        start, end = (datetime.fromtimestamp(ms / 1000, UTC) for ms in (from_ms, to_ms))
        stats = await workspace_activity(self.store, workspace_id, start, end)
        for agent in stats.agents:
            if agent.agent_id is not None:
                with contextlib.suppress(NotFound):  # a Dowell line manager is no account
                    agent.name = (await self.accounts.store.get_user(agent.agent_id)).name
        return stats

    async def ticket_changed(self, ticket: Ticket, change: str) -> None:
        """Record when a ticket became resolved or closed, and count a change of its workspace (the first of a
        quiet period schedules the push)."""
        if change == "status" and ticket.status in DONE:
            await self.store.record_done(ticket.id, ticket.workspace_id, ticket.status.value, ticket.updated_at)
        elif change == "status":
            await self.store.forget_done(ticket.id)
        workspace_id = ticket.workspace_id
        self._pending[workspace_id] = self._pending.get(workspace_id, 0) + 1
        if self._pending[workspace_id] == 1:
            timer = asyncio.create_task(self._push_later(workspace_id))
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)

    async def _push_later(self, workspace_id: str) -> None:
        """After the debounce delay, push one ``helpdesk_stats_updated`` to the workspace's watchers now allowed."""
        await asyncio.sleep(self.debounce_seconds)
        changes = self._pending.pop(workspace_id, 0)
        try:
            managers = [m.user_id for m in await self.workspaces.list_members(workspace_id) if m.role == "manager"]
            rooms = [helpdesk_stats_room(workspace_id), *(helpdesk_stats_room(workspace_id, u) for u in managers)]
            data = HelpdeskStatsUpdated(workspace_id=workspace_id, changes=changes, at=self.clock())
            await self.emitter.push(HELPDESK_STATS_UPDATED, data, to=rooms)
        except Exception:  # a background push: logged, never raised into nobody
            log.exception("event=helpdesk_stats_updated workspace=%s code=internal", workspace_id)

    async def stop(self) -> None:
        """Cancel the pushes still waiting (shutdown)."""
        for timer in list(self._timers):
            timer.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
