"""Values as SQLite stores them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """Return a UTC timestamp string that sorts like the time it names."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    """Parse a stored timestamp (None stays None)."""
    return datetime.fromisoformat(text) if text else None
