"""orjson behind the ``json`` interface python-socketio and python-engineio expect."""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any, **_: Any) -> str:
    """Serialise ``obj`` to a JSON string."""
    return orjson.dumps(obj, option=_OPTIONS).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    """Parse a JSON string."""
    return orjson.loads(data)
