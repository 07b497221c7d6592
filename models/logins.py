"""Login limits: the counters the account store keeps per key and the rule that lets an attempt through.

An attempt is reserved on every counter it is checked against (in one database step) before its
password is verified; a good password gives the reservation back, a wrong one leaves it as a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

# Past an account's limit, an unknown address waits 1, 2, 4 ... seconds after the last attempt,
# never longer than this: the owner is slowed down, not locked out.
BACKOFF_MAX_SECONDS = 60


@dataclass(frozen=True)
class LoginLimit:
    """One counter an attempt is checked against and reserved on."""

    key: str
    max_attempts: int
    window: timedelta
    backoff: bool = False  # past the maximum: one attempt per growing gap instead of a refusal


@dataclass(frozen=True)
class LoginCounter:
    """A key's attempts in its current (fixed) window and when the last one was reserved."""

    count: int
    window_start: datetime
    last_at: datetime


def current(counter: LoginCounter | None, limit: LoginLimit, now: datetime) -> LoginCounter:
    """Return ``counter`` as of ``now``: empty when missing or its window has passed."""
    if counter is None or now >= counter.window_start + limit.window:
        return LoginCounter(0, now, now)
    return counter


def wait_seconds(counter: LoginCounter | None, limit: LoginLimit, now: datetime) -> int | None:
    """Return how many seconds ``limit`` makes an attempt at ``now`` wait, or None when it may go now."""
    held = current(counter, limit, now)
    if held.count < limit.max_attempts:
        return None
    if limit.backoff:
        gap = timedelta(seconds=min(2 ** (held.count - limit.max_attempts), BACKOFF_MAX_SECONDS))
        left = (held.last_at + gap - now).total_seconds()
    else:
        left = (held.window_start + limit.window - now).total_seconds()
    return math.ceil(left) if left > 0 else None


def reserved(counter: LoginCounter | None, limit: LoginLimit, now: datetime) -> LoginCounter:
    """Return ``counter`` holding one more attempt made at ``now``."""
    held = current(counter, limit, now)
    return LoginCounter(held.count + 1, held.window_start, now)


def first_wait(counters: dict[str, LoginCounter], limits: list[LoginLimit], now: datetime) -> int | None:
    """Return the longest wait any of ``limits`` imposes (None: the attempt may go now)."""
    waits = [w for limit in limits if (w := wait_seconds(counters.get(limit.key), limit, now)) is not None]
    return max(waits) if waits else None
