"""Connection-state recovery repository: persisted broadcasts, dropped sessions, and acks of retried events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from models.session_recovery import RequestClaim, SavedSession, StoredPacket
from storage.database import Database


class SessionRecoveryStore(Protocol):
    """Packets by increasing offset, sessions taken at most once, idempotency keys claimed at most once."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def add_packet(self, data: str, rooms: list[str], skip: list[str], at: datetime) -> int:
        """Persist one broadcast and return its offset (greater than every offset returned before)."""

    async def last_offset(self) -> int:
        """Return the greatest offset persisted so far (0 if none is kept)."""

    async def packets_after(self, offset: int, rooms: list[str], sid: str) -> list[StoredPacket]:
        """Return, by offset, the packets after ``offset`` sent to any of ``rooms`` and not skipping ``sid``."""

    async def save_session(self, session: SavedSession, expires_at: datetime) -> None:
        """Keep a dropped socket's session until ``expires_at`` (replacing one of the same pid)."""

    async def take_session(self, pid: str, now: datetime) -> SavedSession | None:
        """Remove and return the live session of ``pid``; None if unknown, expired or already taken."""

    async def kept_sessions(self, now: datetime) -> list[tuple[SavedSession, datetime]]:
        """Return every session kept and still live at ``now``, with its expiry."""

    async def claim_request(self, pid: str, key: str, expires_at: datetime) -> RequestClaim:
        """Claim idempotency key ``key`` of session ``pid``; if it was claimed before, return its saved ack."""

    async def finish_request(self, pid: str, key: str, ack: str) -> None:
        """Save the ack (as JSON) of the claimed request ``key`` of session ``pid``."""

    async def trim(self, packets_before: datetime, now: datetime) -> None:
        """Forget packets persisted before ``packets_before`` and sessions and keys expired at ``now``."""


def make_session_recovery_store(
    db: Database, redis: Any = None, channel: str = "deskline", window_seconds: float = 120
) -> SessionRecoveryStore:
    """Return the Redis recovery store when a Redis client is given (every instance reads it), else the database's."""
    if redis is not None:
        from storage.redis.session_recovery import RedisSessionRecoveryStore

        return RedisSessionRecoveryStore(redis, f"deskline:{channel}:resume", window_seconds)
    if db.kind == "mongo":
        from storage.mongo.session_recovery import MongoSessionRecoveryStore

        return MongoSessionRecoveryStore(db)  # type: ignore[arg-type]
    from storage.sqlite.session_recovery import SqliteSessionRecoveryStore

    return SqliteSessionRecoveryStore(db)  # type: ignore[arg-type]
