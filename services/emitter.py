"""The one way services push events: ``await emitter.push(PUSH, payload, to=rooms)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from models.pushes import Push

Target = str | Sequence[str]


class Emitter(Protocol):
    """Pushes declared events to sockets and rooms, on every instance (wiring implements it over Socket.IO)."""

    async def push(
        self, push: Push[Any], payload: BaseModel | dict[str, Any], *, to: Target, skip_sid: str | None = None
    ) -> None:
        """Validate ``payload`` against ``push.model`` once and send it to ``to`` (a room, a socket or a list)."""
        ...
