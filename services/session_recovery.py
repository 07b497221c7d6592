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

    def __init__(self, store: SessionRecoveryStore, clock: Clock, window_seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.window = timedelta(seconds=window_seconds)
        self._trimmed_at: datetime | None = None

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
        await self.store.save_session(session, self.clock() + self.window)

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
