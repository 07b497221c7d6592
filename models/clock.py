"""One clock type and one time-precision rule: timestamps in whole milliseconds (MongoDB keeps no more)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]


def to_millis(moment: datetime) -> datetime:
    """Return ``moment`` cut to whole milliseconds, so what we return equals what we stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def millis_clock(clock: Clock) -> Clock:
    """Return ``clock`` cut to whole milliseconds: wiring wraps the app's clock once, services never truncate."""

    def now() -> datetime:
        return to_millis(clock())

    now.__wrapped__ = clock  # type: ignore[attr-defined]
    return now
