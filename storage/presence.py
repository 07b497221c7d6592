"""Presence repository: which sockets each user has, on which live instance; in process or in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from models.presence import Status


@dataclass(frozen=True, slots=True)
class Gone:
    """A user who went offline, with the role they were connected as."""

    user_id: str
    role: str


class PresenceStore(Protocol):
    """Domain operations on presence; every change reports whether the user's status flipped."""

    instance_id: str

    async def heartbeat(self) -> bool:
        """Say this instance is alive; return True when it had been registered anew (first beat, or reaped)."""

    async def add_socket(self, sid: str, user_id: str, role: str) -> bool:
        """Record a signed-in socket on this instance; return True if the user just came online."""

    async def remove_socket(self, sid: str, user_id: str) -> bool:
        """Forget a socket of this instance; return True if the user just went offline."""

    async def join_group(self, sid: str, group: str) -> None:
        """Record a socket of this instance as a member of a named group (a socket may be in several)."""

    async def leave_group(self, sid: str, group: str) -> None:
        """Forget a socket of this instance as a member of ``group``."""

    async def group_sockets(self, group: str) -> list[str]:
        """Return the ids of the sockets in ``group``, on every live instance."""

    async def set_away(self, user_id: str, away: bool) -> bool:
        """Mark a user away or back online; return True if that changed anything."""

    async def sockets(self, user_id: str) -> list[str]:
        """Return the ids of the user's signed-in sockets, on every instance."""

    async def statuses(self, user_ids: list[str]) -> dict[str, Status]:
        """Return each user's status (online only while a socket is on a live instance)."""

    async def online(self, role: str) -> list[str]:
        """Return the users of ``role`` who are online and not away."""

    async def reap_dead(self) -> list[tuple[str, list[Gone]]]:
        """Remove the sockets of instances whose heartbeat expired; return (instance id, users now offline)."""

    async def close(self) -> list[Gone]:
        """Remove this instance and all its sockets (clean shutdown); return the users now offline."""


class LocalPresenceStore:
    """Presence of a single instance, kept in this process."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self._sockets: dict[str, set[str]] = {}
        self._roles: dict[str, str] = {}
        self._away: set[str] = set()
        self._groups: dict[str, set[str]] = {}

    async def heartbeat(self) -> bool:
        """A lone instance is always alive."""
        return False

    async def add_socket(self, sid: str, user_id: str, role: str) -> bool:
        """Record a socket; True if it is the user's first."""
        sockets = self._sockets.setdefault(user_id, set())
        first = not sockets
        sockets.add(sid)
        self._roles[user_id] = role
        return first

    async def remove_socket(self, sid: str, user_id: str) -> bool:
        """Forget a socket; True if it was the user's last."""
        sockets = self._sockets.get(user_id)
        if not sockets or sid not in sockets:
            return False
        sockets.discard(sid)
        if sockets:
            return False
        self._forget(user_id)
        return True

    async def sockets(self, user_id: str) -> list[str]:
        """Return the ids of the user's sockets."""
        return sorted(self._sockets.get(user_id, ()))

    async def join_group(self, sid: str, group: str) -> None:
        """Record a socket as a member of ``group``."""
        self._groups.setdefault(group, set()).add(sid)

    async def leave_group(self, sid: str, group: str) -> None:
        """Forget a socket as a member of ``group``."""
        members = self._groups.get(group)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._groups[group]

    async def group_sockets(self, group: str) -> list[str]:
        """Return the ids of the sockets in ``group``."""
        return sorted(self._groups.get(group, ()))

    async def set_away(self, user_id: str, away: bool) -> bool:
        """Mark an online user away or back; True if that changed anything."""
        if not self._sockets.get(user_id) or (user_id in self._away) == away:
            return False
        if away:
            self._away.add(user_id)
        else:
            self._away.discard(user_id)
        return True

    async def statuses(self, user_ids: list[str]) -> dict[str, Status]:
        """Return each user's status."""
        return {uid: self._status(uid) for uid in user_ids}

    async def online(self, role: str) -> list[str]:
        """Return the users of ``role`` who are online and not away."""
        return [uid for uid, r in self._roles.items() if r == role and self._status(uid) == Status.ONLINE]

    async def reap_dead(self) -> list[tuple[str, list[Gone]]]:
        """No other instance exists."""
        return []

    async def close(self) -> list[Gone]:
        """Forget everyone; return who was online."""
        gone = [Gone(uid, self._roles.get(uid, "")) for uid, sockets in self._sockets.items() if sockets]
        for item in gone:
            self._forget(item.user_id)
        self._groups.clear()
        return gone

    def _status(self, user_id: str) -> Status:
        if not self._sockets.get(user_id):
            return Status.OFFLINE
        return Status.AWAY if user_id in self._away else Status.ONLINE

    def _forget(self, user_id: str) -> None:
        self._sockets.pop(user_id, None)
        self._roles.pop(user_id, None)
        self._away.discard(user_id)


def make_presence_store(redis: Any, channel: str, instance_id: str, ttl_seconds: float) -> PresenceStore:
    """Return the Redis presence store when a Redis client is given, else the in-process one."""
    if redis is None:
        return LocalPresenceStore(instance_id)
    from storage.redis.presence import RedisPresenceStore

    return RedisPresenceStore(redis, f"deskline:{channel}:presence", instance_id, ttl_seconds)
