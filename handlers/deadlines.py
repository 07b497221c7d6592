"""Event handlers' time limit, kept by one timer for all of them instead of a timer each.

``asyncio.timeout`` arms and cancels a loop timer per use. Around every event handler that was the largest
single cost of a cheap event: the closed-loop ``get_presence`` bench ran 17,500 events/s with it, 20,600
with this and 21,600 with no limit at all (means of three alternated runs; README, Benchmarks).
Every handler here gets the same limit, so their deadlines come in the order they start:
``HandlerDeadlines`` keeps the running ones in that order and one timer, armed for the oldest.
A handler past its deadline is cancelled and its ``with`` block raises ``TimeoutError``, as
``asyncio.timeout`` does; any other cancellation goes through unchanged.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    """One handler's deadline: ``with deadlines.start():`` around the handler's work, inside its task.

    A plain ``with``: entering and leaving it awaits nothing, so it makes no coroutine of its own.
    """

    __slots__ = ("_cancelling", "_deadlines", "_task", "expired", "when")

    def __init__(self, deadlines: HandlerDeadlines) -> None:
        self._deadlines = deadlines
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False  # cancelled by the deadline
        self.when = 0.0  # in the loop's clock

    def __enter__(self) -> Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a handler deadline must be entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._deadlines.track(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._deadlines.untrack(self)
        if self.expired and self._task is not None:  # as asyncio.Timeout.__aexit__
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def expire(self) -> None:
        """Cancel the handler: its deadline has passed."""
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()


class HandlerDeadlines:
    """Cancels event handlers that run longer than ``seconds``, with one loop timer for all of them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._running: dict[Deadline, None] = {}  # oldest first: one limit for all, so earliest deadline first
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Deadline:
        """A deadline ``seconds`` from when its ``with`` block is entered."""
        return Deadline(self)

    @property
    def running(self) -> int:
        """Handlers whose deadline is being kept now."""
        return len(self._running)

    def track(self, deadline: Deadline) -> None:
        """Keep ``deadline`` from now on; arm the timer if none is."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline.when = loop.time() + self.seconds
        self._running[deadline] = None
        if self._timer is None:
            self._timer = loop.call_at(deadline.when, self._expire_due)

    def untrack(self, deadline: Deadline) -> None:
        """Stop keeping ``deadline`` (its handler ended)."""
        self._running.pop(deadline, None)

    def _expire_due(self) -> None:
        """Cancel every handler past its deadline; arm the timer for the oldest one left."""
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        while self._running:
            oldest = next(iter(self._running))
            if oldest.when > now:
                self._timer = self._loop.call_at(oldest.when, self._expire_due)
                return
            del self._running[oldest]
            oldest.expire()
