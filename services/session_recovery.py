"""Connection-state recovery use cases: persist broadcasts, keep dropped sessions, answer retried requests once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from models.clock import Clock
from models.session_recovery import RequestClaim, SavedSession, StoredPacket
from storage.session_recovery import SessionRecoveryStore

log = logging.getLogger("deskline.recovery")

TRIM_EVERY = timedelta(seconds=10)  # old packets, sessions and keys are deleted at most this often


class SessionRecoveryService:
    """The recovery window over a ``SessionRecoveryStore``: what is kept, for how long, and when it is trimmed."""

    def __init__(
        self, store: SessionRecoveryStore, clock: Clock, window_seconds: float, knows_every_session: bool = False
    ) -> None:
        self.store = store
        self.clock = clock
        self.window = timedelta(seconds=window_seconds)
        self._trimmed_at: datetime | None = None
        # True when this process keeps every session there is (one process, no other instance): then a broadcast
        # no kept session can be replayed is not persisted (``may_replay``).
        self.knows_every_session = knows_every_session
        self._room_kept_until: dict[str, datetime] = {}  # room -> when the last session kept with it expires
        self._kept_until: datetime | None = None  # when the last session kept expires
        self._pruned_at: datetime | None = None

    async def persist(self, data: str, rooms: list[str], skip: list[str]) -> int:
        """Keep one broadcast (``[event, *args]`` as JSON) for the window; return its offset."""
        now = self.clock()
        offset = await self.store.add_packet(data, rooms, skip, now)
        if self._trimmed_at is None or now - self._trimmed_at >= TRIM_EVERY:
            self._trimmed_at = now
            try:
                await self.store.trim(now - self.window, now)
            except Exception:
                log.exception("event=recovery_trim code=internal")
        return offset

    async def last_offset(self) -> int:
        """Return the newest offset: a socket connecting now has missed nothing up to it."""
        return await self.store.last_offset()

    async def keep(self, session: SavedSession) -> None:
        """Keep a dropped socket's session until the window closes."""
        until = self.clock() + self.window
        self._note_kept(session, until)  # before the write: a broadcast from now on must be kept for it
        await self.store.save_session(session, until)

    async def load_kept(self) -> None:
        """Learn the sessions kept before this process started (they may come back within their window)."""
        for session, until in await self.store.kept_sessions(self.clock()):
            self._note_kept(session, until)

    def may_replay(self, rooms: list[str]) -> bool:
        """Whether a broadcast to ``rooms`` (empty: to everyone) could be replayed to a kept session.

        Always, unless this process knows every session; then only if a session kept within the window had one
        of those rooms (its own sid counts as one). Sockets connected now are the caller's to check.
        """
        if not self.knows_every_session:
            return True
        now = self.clock()
        if self._kept_until is None or self._kept_until <= now:
            self._room_kept_until.clear()
            return False
        if self._pruned_at is None or now - self._pruned_at >= TRIM_EVERY:
            self._pruned_at = now
            self._room_kept_until = {room: until for room, until in self._room_kept_until.items() if until > now}
        if not rooms:
            return True
        return any((until := self._room_kept_until.get(room)) is not None and until > now for room in rooms)

    def _note_kept(self, session: SavedSession, until: datetime) -> None:
        """Remember until when a broadcast to the session's rooms (or its sid) may be replayed to it."""
        if self._kept_until is None or until > self._kept_until:
            self._kept_until = until
        for room in (*session.rooms, session.sid):
            known = self._room_kept_until.get(room)
            if known is None or until > known:
                self._room_kept_until[room] = until

    async def take(self, pid: str) -> SavedSession | None:
        """Return (once) the session of ``pid`` if it dropped within the window."""
        return await self.store.take_session(pid, self.clock())

    async def missed(self, after: int, rooms: list[str], sid: str) -> list[StoredPacket]:
        """Return the broadcasts after offset ``after`` that socket ``sid`` in ``rooms`` would have received."""
        return await self.store.packets_after(after, rooms, sid)

    async def claim(self, pid: str, key: str) -> RequestClaim:
        """Claim a retried request's key for the window; if claimed before, return its saved ack."""
        return await self.store.claim_request(pid, key, self.clock() + self.window)

    async def answered(self, pid: str, key: str, ack: str) -> None:
        """Save the ack of a claimed request, for its retries."""
        await self.store.finish_request(pid, key, ack)
