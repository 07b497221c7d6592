"""The outbox worker: claims due emails and SMS, sends them, retries with exponential backoff.

A claim is a lease: until it expires no other worker takes the message. Every send is cut off at a deadline
that is at most half the lease, so a worker never still sends a message that another worker has taken over.

A failure about the message (a 4xx to its recipient) counts towards the attempts; a failure of the channel
(no connection, TLS, login, provider outage) does not: the message waits, with the same backoff, until the
channel works again or it is older than the age limit. While a channel is down this worker tries one of its
messages per poll instead of whole batches (politeness only: the leases in the database keep sends single).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from models.notify import Channel, OutboxMessage
from notify.senders import DeliveryError, Sender
from storage.database import new_id
from storage.notify import NotifyStore

log = logging.getLogger("deskline.notify")

PRUNE_EVERY_SECONDS = 3600.0
KEEP_DELIVERED = timedelta(days=7)
SHUTDOWN_GRACE_SECONDS = 10.0


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Return the wait after the ``attempts``-th failed try: base, 2*base, 4*base, ... capped."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class OutboxWorker:
    """Drains the outbox of one process; any number of processes may drain the same outbox."""

    def __init__(
        self,
        store: NotifyStore,
        senders: dict[Channel, Sender],
        clock: Callable[[], datetime],
        *,
        poll_seconds: float,
        backoff_seconds: float,
        backoff_max_seconds: float,
        max_attempts: int,
        max_age_seconds: float,
        lease_seconds: float,
        send_timeout_seconds: float,
        batch_size: int,
    ) -> None:
        if lease_seconds < 2 * send_timeout_seconds:
            raise ValueError("the outbox lease must be at least twice the send deadline")
        self.store = store
        self.senders = senders
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.max_attempts = max_attempts
        self.max_age = timedelta(seconds=max_age_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        self.send_timeout = send_timeout_seconds
        self.batch_size = batch_size
        self.name = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._down: dict[Channel, float] = {}  # channel found unavailable -> loop time of the next probe

    @property
    def channels(self) -> list[Channel]:
        """The channels this worker can deliver."""
        return list(self.senders)

    def start(self) -> None:
        """Start draining in the background."""
        if self._task is None and self.senders:
            self._task = asyncio.create_task(self._run(), name="deskline-outbox")

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends in flight (up to a grace period), then stop; unfinished claims expire and are retried."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for sender in self.senders.values():
            await sender.close()

    async def _run(self) -> None:
        log.info("event=outbox_started worker=%s channels=%s", self.name, ",".join(self.channels))
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.drain_once()
                await self._maybe_prune()
            except Exception:
                log.exception("event=outbox_error worker=%s", self.name)
                handled = 0
            if handled < self.batch_size and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def drain_once(self) -> int:
        """Claim due messages and deliver them; return how many were claimed.

        A batch on the channels that work; one message (a probe) on each channel last found unavailable,
        at most once per poll interval; nothing on such a channel in between.
        """
        now = self.clock()
        if not await self.store.has_due(self.channels, now):
            return 0
        loop_now = asyncio.get_running_loop().time()
        working = [c for c in self.channels if c not in self._down]
        probes = [c for c, probe_at in self._down.items() if probe_at <= loop_now]
        lease_until = now + self.lease
        batch = await self.store.claim_due(working, self.name, now, lease_until, self.batch_size) if working else []
        for channel in probes:
            batch += await self.store.claim_due([channel], self.name, now, lease_until, 1)
        results = await asyncio.gather(*(self._deliver(m) for m in batch), return_exceptions=True)
        for message, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.error("event=outbox_error id=%s worker=%s error=%r", message.id, self.name, result)
        return len(batch)

    def _channel_state(self, channel: Channel, available: bool) -> None:
        """Remember whether the last answer (or silence) on ``channel`` said it works."""
        if available:
            if self._down.pop(channel, None) is not None:
                log.info("event=outbox_channel_up channel=%s worker=%s", channel, self.name)
                self._wake.set()  # its backlog goes now, not at the next poll
            return
        if channel not in self._down:
            log.warning("event=outbox_channel_down channel=%s worker=%s", channel, self.name)
        self._down[channel] = asyncio.get_running_loop().time() + self.poll_seconds

    async def _deliver(self, message: OutboxMessage) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                provider_id = await self.senders[message.channel].send(message)
        except TimeoutError:
            self._channel_state(message.channel, False)
            await self._failed(message, f"send timed out after {self.send_timeout:g} s", unavailable=True)
            return
        except DeliveryError as exc:
            self._channel_state(message.channel, not exc.unavailable)
            await self._failed(message, str(exc), permanent=exc.permanent, unavailable=exc.unavailable)
            return
        except Exception as exc:
            log.exception("event=outbox_send_error id=%s channel=%s", message.id, message.channel)
            await self._failed(message, f"{exc.__class__.__name__}: {exc}")
            return
        self._channel_state(message.channel, True)
        if await self.store.mark_sent(message, self.name, self.clock(), provider_id):
            log.info(
                "event=outbox_sent id=%s channel=%s kind=%s attempts=%d deferrals=%d",
                message.id,
                message.channel,
                message.kind,
                message.attempts,
                message.deferrals,
            )
        else:
            log.warning("event=outbox_claim_lost id=%s worker=%s", message.id, self.name)

    def _give_up_reason(self, message: OutboxMessage, error: str, permanent: bool, unavailable: bool) -> str | None:
        """Return why the message is failed now, or None to retry it."""
        if permanent:
            return error
        if not unavailable and message.attempts >= self.max_attempts:
            return error
        if self.clock() >= message.created_at + self.max_age:
            hours = self.max_age.total_seconds() / 3600
            return f"not delivered within {hours:g} h (DESKLINE_NOTIFY_MAX_AGE_HOURS); last error: {error}"
        return None

    async def _failed(
        self, message: OutboxMessage, error: str, *, permanent: bool = False, unavailable: bool = False
    ) -> None:
        if unavailable:
            error = f"channel unavailable: {error}"
        reason = self._give_up_reason(message, error, permanent, unavailable)
        if reason is not None:
            await self.store.mark_failed(message, self.name, reason[:500], deferred=unavailable)
            log.warning(
                "event=outbox_failed id=%s channel=%s attempts=%d deferrals=%d error=%s",
                message.id,
                message.channel,
                message.attempts,
                message.deferrals,
                reason,
            )
            return
        wait = backoff(message.attempts + message.deferrals, self.backoff_seconds, self.backoff_max_seconds)
        next_try = min(self.clock() + wait, message.created_at + self.max_age)
        await self.store.mark_retry(message, self.name, next_try, error[:500], deferred=unavailable)
        log.info(
            "event=outbox_%s id=%s channel=%s attempts=%d deferrals=%d in_s=%.1f error=%s",
            "deferred" if unavailable else "retry",
            message.id,
            message.channel,
            message.attempts,
            message.deferrals,
            (next_try - self.clock()).total_seconds(),
            error,
        )

    async def _maybe_prune(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = loop_now
            removed = await self.store.prune_outbox(self.clock() - KEEP_DELIVERED)
            if removed:
                log.info("event=outbox_pruned removed=%d", removed)
