"""Event and upload rate limits: token buckets per socket, per user and per address, by event group.

A socket's buckets live in its instance. With Redis configured the user and uploader buckets live there
(one atomic Lua script per check, keys expire once full again), so a user's limit holds across every
instance; otherwise in this process. A socket that keeps sending after it was refused is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from config import Settings, parse_rate
from handlers.context import EventContext
from models.errors import RateLimited
from models.roles import PRINCIPAL_KEY

log = logging.getLogger("deskline.rate_limits")

AUTH_EVENTS = frozenset(
    {"register", "login", "refresh_token", "request_password_reset", "reset_password", "request_login_code"}
    | {"login_with_code"}
)
CALL_EVENTS = frozenset({"callUser", "answerCall", "endCall"})
LOCAL_PRUNE_AT = 10_000

# KEYS: bucket keys. ARGV: capacity and refill (tokens per millisecond) of each key in turn.
# Takes one token from every bucket, or from none; returns "0", or the seconds until all have one.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, tokens = 0, {}
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local have, at = tonumber(b[1]), tonumber(b[2])
  if have == nil then have, at = cap, now end
  have = math.min(cap, have + math.max(0, now - at) * rate)
  tokens[i] = have
  if have < 1 then wait = math.max(wait, (1 - have) / rate) end
end
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local have = tokens[i]
  if wait == 0 then have = have - 1 end
  redis.call('HSET', key, 'tokens', tostring(have), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((cap - have) / rate) + 1000)
end
return tostring(wait / 1000)
"""


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``burst`` events at once, refilled at ``burst`` per ``seconds``."""

    burst: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """Return the rate of ``"N/S"``, or None for ``"off"``."""
        parsed = parse_rate(text)
        return cls(*parsed) if parsed else None

    @property
    def per_second(self) -> float:
        """Tokens added per second."""
        return self.burst / self.seconds


Bucket = tuple[str, Rate]


class LocalBuckets:
    """Token buckets in this process (atomic: no await between reading and writing one)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, buckets: list[Bucket]) -> float:
        """Take a token from every bucket and return 0, or take none and return the seconds to wait."""
        return self.take_now(buckets, time.monotonic())

    def take_now(self, buckets: list[Bucket], now: float) -> float:
        """``take`` at time ``now`` (synchronous)."""
        if len(self._buckets) > LOCAL_PRUNE_AT:
            self._prune(now)
        levels = []
        wait = 0.0
        for key, rate in buckets:
            have, at = self._buckets.get(key, (rate.burst, now))
            have = min(rate.burst, have + (now - at) * rate.per_second)
            levels.append(have)
            if have < 1:
                wait = max(wait, (1 - have) / rate.per_second)
        for (key, _), have in zip(buckets, levels, strict=True):
            self._buckets[key] = (have - 1 if wait == 0 else have, now)
        return wait

    def give_back(self, buckets: list[Bucket]) -> None:
        """Return the token just taken from each bucket."""
        for key, rate in buckets:
            if key in self._buckets:
                have, at = self._buckets[key]
                self._buckets[key] = (min(rate.burst, have + 1), at)

    def forget(self, key: str) -> None:
        """Drop one bucket."""
        self._buckets.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drop buckets untouched for an hour (they are full again, or nearly)."""
        for key in [k for k, (_, at) in self._buckets.items() if now - at > 3600]:
            del self._buckets[key]


class RedisBuckets:
    """Token buckets in Redis, shared by every instance."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._script = redis.register_script(TAKE_SCRIPT)
        self._prefix = prefix

    async def take(self, buckets: list[Bucket]) -> float:
        """Take a token from every bucket and return 0, or take none and return the seconds to wait."""
        keys = [self._prefix + key for key, _ in buckets]
        args: list[float] = []
        for _, rate in buckets:
            args += [rate.burst, rate.per_second / 1000]
        try:
            return float(await self._script(keys=keys, args=args))
        except Exception as exc:  # Redis unreachable: serve rather than refuse everyone
            log.warning("event=rate_limit code=internal reason=%s", type(exc).__name__)
            return 0.0


class RateLimiter:
    """Checks each event and upload against its group's buckets; disconnects persistent offenders."""

    def __init__(self, settings: Settings, sio: Any, redis: Any = None) -> None:
        self.sio = sio
        self.groups: dict[str, Rate | None] = {
            "default": Rate.parse(settings.rate_limit_default),
            "calls": Rate.parse(settings.rate_limit_calls),
            "auth": Rate.parse(settings.rate_limit_auth),
            "uploads": Rate.parse(settings.rate_limit_uploads),
            "uploads_address": Rate.parse(settings.rate_limit_uploads_per_address),
        }
        self.local = LocalBuckets()  # per socket and per address of this instance
        self.buckets: LocalBuckets | RedisBuckets = (
            RedisBuckets(redis, f"{settings.redis_channel}:ratelimit:") if redis is not None else self.local
        )
        self._order: dict[str, asyncio.Lock] = {}
        self.strikes = LocalBuckets()  # refusals per socket: a socket lives on one instance
        self.strike_rate = Rate(settings.rate_limit_disconnect_after, settings.rate_limit_strike_window_seconds)

    async def check_event(self, ctx: EventContext, event: str) -> None:
        """Raise ``RateLimited`` when this socket or its user is over the event's group limit."""
        await self.check_socket(ctx.sid, ctx.principal.user_id if ctx.principal else None, event)

    async def check_socket(self, sid: str, user_id: str | None, event: str) -> None:
        """Raise ``RateLimited`` (and disconnect a persistent offender) when ``sid`` or its user is over the limit.

        The socket's bucket is in this process (a socket lives on one instance) and is checked without waiting;
        the user's may be in Redis. A socket's checks that wait on Redis run one at a time in arrival order, so
        its events still reach their handlers in the order it sent them (ICE candidates, chat messages).
        """
        group = group_of(event)
        rate = self.groups[group]
        if rate is None:
            return
        own = [(f"{group}:sid:{sid}", rate)]
        wait = self.local.take_now(own, time.monotonic())
        if wait <= 0 and user_id:
            async with self._in_order(sid):
                wait = await self.buckets.take([(f"{group}:user:{user_id}", rate)])
            if wait > 0:
                self.local.give_back(own)
        if wait <= 0:
            return
        log.info("event=%s sid=%s user=%s code=rate_limited group=%s", event[:64], sid, user_id or "-", group)
        if self.strikes.take_now([(sid, self.strike_rate)], time.monotonic()) > 0:
            log.warning("event=rate_limit_disconnect sid=%s user=%s group=%s", sid, user_id or "-", group)
            await self.sio.disconnect(sid)
        raise limited(group, wait)

    def _in_order(self, sid: str) -> asyncio.Lock:
        """Return the socket's FIFO lock (ordering only; the buckets' atomicity is Redis's or single-threaded)."""
        if sid not in self._order:
            self._order[sid] = asyncio.Lock()
        return self._order[sid]

    async def unknown_event(self, sid: str, event: str) -> RateLimited | None:
        """Count an event no handler knows against the socket's default limit; return the refusal if over it."""
        try:
            session = await self.sio.get_session(sid)
        except KeyError:
            session = {}
        principal = session.get(PRINCIPAL_KEY)
        try:
            await self.check_socket(sid, principal.user_id if principal else None, event)
        except RateLimited as err:
            return err
        return None

    async def check_upload(self, uploader: str, address: str) -> None:
        """Raise ``RateLimited`` when the uploader (``user:<id>`` / ``workspace:<id>``) or the address is over."""
        buckets: list[Bucket] = []
        if (rate := self.groups["uploads"]) is not None:
            buckets.append((f"uploads:{uploader}", rate))
        if (rate := self.groups["uploads_address"]) is not None:
            buckets.append((f"uploads:addr:{address}", rate))
        if buckets and (wait := await self.buckets.take(buckets)) > 0:
            log.info("event=upload_attachment uploader=%s code=rate_limited", uploader)
            raise limited("uploads", wait)

    async def forget(self, sid: str, _session: dict[str, Any]) -> None:
        """Drop a disconnected socket's buckets and lock (Redis keys expire by themselves)."""
        self.strikes.forget(sid)
        self._order.pop(sid, None)
        for group in self.groups:
            self.local.forget(f"{group}:sid:{sid}")


def group_of(event: str) -> str:
    """Return the rate-limit group of an event name: calls, auth or default."""
    if event in CALL_EVENTS or event.startswith("call_"):
        return "calls"
    if event in AUTH_EVENTS:
        return "auth"
    return "default"


def limited(group: str, wait: float) -> RateLimited:
    """Return the error telling the client how long to wait."""
    retry = math.ceil(wait * 1000) / 1000
    return RateLimited(f"too many requests; try again in {retry:g} s", {"retry_after_seconds": retry, "group": group})
