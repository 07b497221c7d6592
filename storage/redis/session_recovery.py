"""Connection-state recovery in Redis, shared by every instance.

Keys under ``<prefix>`` (``deskline:<redis channel>:resume``): ``packets`` (one stream of every broadcast, trimmed
by time with ``XTRIM MINID``), ``session:<pid>`` (expiring, taken with ``GETDEL``) and ``request:<pid>:<key>``
(expiring, claimed with ``SET NX``). An offset is its packet's stream id ``<ms>-<seq>`` read as one integer,
``ms * 10**6 + seq``: increasing across instances, since Redis hands out the ids.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from models.session_recovery import RequestClaim, SavedSession, StoredPacket

SEQ = 10**6
RUNNING = "\x00running"  # a claimed request's value until its ack is saved


def offset_of(stream_id: bytes | str) -> int:
    """Return the offset of stream id ``<ms>-<seq>``."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, seq = text.split("-")
    return int(ms) * SEQ + int(seq)


def stream_id(offset: int) -> str:
    """Return the stream id of an offset."""
    return f"{offset // SEQ}-{offset % SEQ}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionRecoveryStore:
    """Persisted broadcasts, dropped sessions and retried requests in Redis (expiry by Redis itself)."""

    def __init__(self, redis: Any, prefix: str, window_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._packets = f"{prefix}:packets"
        self._ttl_ms = max(1, int(window_seconds * 1000))

    async def init(self) -> None:
        """Nothing to create: Redis keys appear when written."""

    async def add_packet(self, data: str, rooms: list[str], skip: list[str], at: datetime) -> int:
        """Append one broadcast to the stream; its id is its offset."""
        fields = {"data": data, "rooms": json.dumps(rooms), "skip": json.dumps(skip)}
        return offset_of(await self._redis.xadd(self._packets, fields))

    async def last_offset(self) -> int:
        """Return the offset of the newest packet in the stream (0 if it is empty)."""
        newest = await self._redis.xrevrange(self._packets, count=1)
        return offset_of(newest[0][0]) if newest else 0

    async def packets_after(self, offset: int, rooms: list[str], sid: str) -> list[StoredPacket]:
        """Return the packets after ``offset`` sent to any of ``rooms`` (or to everyone), not skipping ``sid``."""
        entries = await self._redis.xrange(self._packets, min=f"({stream_id(offset)}", max="+")
        wanted, found = set(rooms), []
        for entry_id, raw in entries:
            fields = {_text(k): _text(v) for k, v in raw.items()}
            to, skip = json.loads(fields["rooms"]), json.loads(fields["skip"])
            if (not to or wanted.intersection(to)) and sid not in skip:
                found.append(StoredPacket(offset_of(entry_id), fields["data"], to, skip))
        return found

    async def save_session(self, session: SavedSession, expires_at: datetime) -> None:
        """Keep a dropped socket's session for the window (Redis expires it)."""
        await self._redis.set(f"{self._prefix}:session:{session.pid}", json.dumps(session.__dict__), px=self._ttl_ms)

    async def take_session(self, pid: str, now: datetime) -> SavedSession | None:
        """Delete and return the session of ``pid`` (one GETDEL: taken at most once)."""
        body = await self._redis.getdel(f"{self._prefix}:session:{pid}")
        return SavedSession(**json.loads(body)) if body is not None else None

    async def kept_sessions(self, now: datetime) -> list[tuple[SavedSession, datetime]]:
        """Return every live kept session, with its expiry from its key's remaining time to live."""
        found = []
        async for key in self._redis.scan_iter(f"{self._prefix}:session:*"):
            body, left_ms = await self._redis.get(key), await self._redis.pttl(key)
            if body is not None and left_ms > 0:
                found.append((SavedSession(**json.loads(body)), now + timedelta(milliseconds=left_ms)))
        return found

    async def claim_request(self, pid: str, key: str, expires_at: datetime) -> RequestClaim:
        """Claim the key (SET NX) unless present; if present, return its saved ack (None while running)."""
        name = f"{self._prefix}:request:{pid}:{key}"
        if await self._redis.set(name, RUNNING, nx=True, px=self._ttl_ms):
            return RequestClaim(new=True)
        saved = await self._redis.get(name)
        ack = _text(saved) if saved is not None else None
        return RequestClaim(new=False, ack=None if ack == RUNNING else ack)

    async def finish_request(self, pid: str, key: str, ack: str) -> None:
        """Save the ack of the claimed request (keeping its expiry)."""
        await self._redis.set(f"{self._prefix}:request:{pid}:{key}", ack, xx=True, keepttl=True)

    async def trim(self, packets_before: datetime, now: datetime) -> None:
        """Drop the packets older than ``packets_before`` (sessions and requests expire by themselves)."""
        await self._redis.xtrim(self._packets, minid=stream_id(int(packets_before.timestamp() * 1000) * SEQ))
