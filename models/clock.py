"""Timestamps at the precision both backends keep (MongoDB stores milliseconds)."""

from __future__ import annotations

from datetime import datetime


def to_millis(moment: datetime) -> datetime:
    """Return ``moment`` cut to whole milliseconds, so what we return equals what we stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
