"""Opaque cursors for keyset pagination over (timestamp, id)."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

from models.errors import InvalidPayload


def encode_cursor(created_at: datetime, item_id: str) -> str:
    """Return an opaque cursor pointing just after the given item."""
    raw = orjson.dumps([created_at.isoformat(), item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return the (timestamp, id) a cursor points after; raise ``InvalidPayload`` if it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, item_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(stamp), str(item_id)
    except Exception as exc:
        raise InvalidPayload("cursor is not valid", {"cursor": cursor}) from exc
