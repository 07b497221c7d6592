"""Presence: online while a socket is connected on any instance; away by choice; offline otherwise.

A signed-in socket that dropped and may be recovered (connection-state recovery) keeps its user online for a
grace period (``presence_grace_seconds``): if it comes back within it (on any instance, under its own sid), no
presence push is sent at all; if not, the user goes offline when the grace ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from models.presence import PRESENCE_CHANGED, PresenceChanged, Status
from models.roles import PRINCIPAL_KEY, STAFF_ROLES, Principal, Role
from models.rooms import presence_audience
from models.session_recovery import DROPPED_KEY
from services.emitter import Emitter
from storage.presence import Gone, PresenceStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.presence")

DeadInstanceHook = Callable[[str], Awaitable[None]]
SocketCheck = Callable[[str], bool]  # is this socket id connected (or connecting) to this instance?


class PresenceService:
    """Tracks this instance's signed-in sockets in the presence store and announces status changes."""

    def __init__(
        self,
        store: PresenceStore,
        workspaces: WorkspaceStore,
        emitter: Emitter,
        is_connected: SocketCheck,
        grace_seconds: float = 0,
    ) -> None:
        self.store = store
        self.workspaces = workspaces
        self.emitter = emitter
        self.is_connected = is_connected
        self.instance_id = store.instance_id
        self.dead_instance_hooks: list[DeadInstanceHook] = []  # connected by wiring.py
        self._local: dict[str, tuple[str, str]] = {}
        self._groups: dict[str, set[str]] = {}  # this instance's sockets -> the named groups they joined
        self.grace_seconds = grace_seconds  # how long a dropped, recoverable socket keeps its user online
        self._dropped: dict[str, asyncio.Task[None]] = {}  # dropped sockets of this instance, in their grace

    async def start(self) -> None:
        """Register this instance in the presence store (its first heartbeat)."""
        await self.store.heartbeat()

    async def socket_changed(self, sid: str, session: dict[str, Any]) -> None:
        """Session hook: follow the socket's principal (connect, login, logout)."""
        principal: Principal | None = session.get(PRINCIPAL_KEY)
        new = (principal.user_id, principal.role.value) if principal else None
        back = self._dropped.pop(sid, None)
        if back is not None:
            back.cancel()  # it came back within its grace: it never left
        old = self._local.get(sid)
        if old == new:
            return
        if old is not None:
            await self._remove(sid, old)
        if new is not None:
            self._local[sid] = new
            if await self.store.add_socket(sid, *new):
                await self.announce(new[0], new[1], Status.ONLINE)

    async def socket_gone(self, sid: str, session: dict[str, Any]) -> None:
        """Disconnect hook: the socket left this instance (a dropped, recoverable one: after its grace)."""
        old = self._local.get(sid)
        if old is not None and session.get(DROPPED_KEY) and self.grace_seconds > 0:
            self._local.pop(sid, None)
            self._dropped[sid] = asyncio.get_running_loop().create_task(self._after_grace(sid, old))
        elif old is not None:
            await self._remove(sid, old)
        for group in self._groups.pop(sid, ()):
            await self.store.leave_group(sid, group)

    async def join_group(self, sid: str, group: str) -> None:
        """Register a socket of this instance in a named group (never announced; left on disconnect)."""
        if not self.is_connected(sid):
            return  # it is leaving or left: socket_gone would never remove it
        self._groups.setdefault(sid, set()).add(group)
        await self.store.join_group(sid, group)

    async def group_sockets(self, group: str) -> list[str]:
        """Return the ids of the sockets in ``group``, on every live instance."""
        return await self.store.group_sockets(group)

    async def _after_grace(self, sid: str, entry: tuple[str, str]) -> None:
        """Forget a dropped socket that did not come back to this instance within its grace."""
        await asyncio.sleep(self.grace_seconds)
        self._dropped.pop(sid, None)
        try:
            await self._remove(sid, entry)
        except Exception:
            log.exception("event=presence_grace sid=%s code=internal", sid)

    async def _remove(self, sid: str, entry: tuple[str, str]) -> None:
        self._local.pop(sid, None)
        if await self.store.remove_socket(sid, entry[0]):
            await self.announce(entry[0], entry[1], Status.OFFLINE)

    async def tick(self) -> None:
        """Refresh this instance's heartbeat and reap instances whose heartbeat expired."""
        if await self.store.heartbeat():
            for sid, (user_id, role) in list(self._local.items()):
                if await self.store.add_socket(sid, user_id, role):
                    await self.announce(user_id, role, Status.ONLINE)
            for sid, groups in list(self._groups.items()):
                for group in groups:
                    await self.store.join_group(sid, group)
        for instance_id, gone in await self.store.reap_dead():
            log.warning("event=instance_dead instance=%s users_offline=%d", instance_id, len(gone))
            await self._announce_gone(gone)
            for hook in self.dead_instance_hooks:
                await hook(instance_id)

    async def stop(self) -> None:
        """Shutdown hook: take this instance's sockets out of presence."""
        self._local.clear()
        self._groups.clear()
        for waiting in self._dropped.values():
            waiting.cancel()
        self._dropped.clear()
        await self._announce_gone(await self.store.close())

    async def _announce_gone(self, gone: list[Gone]) -> None:
        for item in gone:
            await self.announce(item.user_id, item.role, Status.OFFLINE)

    async def announce(self, user_id: str, role: str, status: Status) -> None:
        """Push ``presence_changed`` to the watchers; for a staff user also to workspace colleagues and admins."""
        colleagues = await self.colleagues(user_id) if role in {r.value for r in STAFF_ROLES} else None
        await self.emitter.push(
            PRESENCE_CHANGED,
            PresenceChanged(user_id=user_id, status=status),
            to=presence_audience(user_id, colleagues),
        )

    async def colleagues(self, user_id: str) -> list[str]:
        """Return the members of every workspace ``user_id`` is a member of (read now: membership changes count)."""
        found: dict[str, None] = {}
        for membership in await self.workspaces.memberships(user_id):
            for member in await self.workspaces.list_members(membership.workspace_id):
                found[member.user_id] = None
        return list(found)

    async def set_status(self, who: Principal, status: Status) -> Status:
        """Mark ``who`` away or online again; announce it if it changed."""
        if await self.store.set_away(who.user_id, status == Status.AWAY):
            await self.announce(who.user_id, who.role.value, status)
        return (await self.store.statuses([who.user_id]))[who.user_id]

    async def sockets_of(self, user_id: str) -> list[str]:
        """Return the ids of the user's signed-in sockets, on every instance."""
        return await self.store.sockets(user_id)

    async def statuses(self, user_ids: list[str]) -> dict[str, Status]:
        """Return each user's current status."""
        return await self.store.statuses(list(dict.fromkeys(user_ids)))

    async def available(self, role: Role) -> list[str]:
        """Return the users of ``role`` who are online and not away."""
        return await self.store.online(role.value)
