"""The outbox worker: claims due emails and SMS, sends them, retries with exponential backoff.

A claim is a lease: until it expires no other worker takes the message. Every send is cut off at a deadline
that is at most half the lease, so a worker never still sends a message that another worker has taken over.
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
        self.lease = timedelta(seconds=lease_seconds)
        self.send_timeout = send_timeout_seconds
        self.batch_size = batch_size
        self.name = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0

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
        """Claim one batch of due messages and deliver it; return how many were claimed."""
        now = self.clock()
        if not await self.store.has_due(self.channels, now):
            return 0
        batch = await self.store.claim_due(self.channels, self.name, now, now + self.lease, self.batch_size)
        results = await asyncio.gather(*(self._deliver(m) for m in batch), return_exceptions=True)
        for message, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.error("event=outbox_error id=%s worker=%s error=%r", message.id, self.name, result)
        return len(batch)

    async def _deliver(self, message: OutboxMessage) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                provider_id = await self.senders[message.channel].send(message)
        except TimeoutError:
            await self._failed(message, f"send timed out after {self.send_timeout:g} s", False)
            return
        except DeliveryError as exc:
            await self._failed(message, str(exc), exc.permanent)
            return
        except Exception as exc:
            log.exception("event=outbox_send_error id=%s channel=%s", message.id, message.channel)
            await self._failed(message, f"{exc.__class__.__name__}: {exc}", False)
            return
        if await self.store.mark_sent(message, self.name, self.clock(), provider_id):
            log.info(
                "event=outbox_sent id=%s channel=%s kind=%s attempts=%d",
                message.id,
                message.channel,
                message.kind,
                message.attempts,
            )
        else:
            log.warning("event=outbox_claim_lost id=%s worker=%s", message.id, self.name)

    async def _failed(self, message: OutboxMessage, error: str, permanent: bool) -> None:
        error = error[:500]
        if permanent or message.attempts >= self.max_attempts:
            await self.store.mark_failed(message, self.name, error)
            log.warning(
                "event=outbox_failed id=%s channel=%s attempts=%d error=%s",
                message.id,
                message.channel,
                message.attempts,
                error,
            )
            return
        wait = backoff(message.attempts, self.backoff_seconds, self.backoff_max_seconds)
        await self.store.mark_retry(message, self.name, self.clock() + wait, error)
        log.info(
            "event=outbox_retry id=%s channel=%s attempts=%d in_s=%.1f error=%s",
            message.id,
            message.channel,
            message.attempts,
            wait.total_seconds(),
            error,
        )

    async def _maybe_prune(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = loop_now
            removed = await self.store.prune_outbox(self.clock() - KEEP_DELIVERED)
            if removed:
                log.info("event=outbox_pruned removed=%d", removed)
