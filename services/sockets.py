"""``Sockets``: what a service may do to other people's sockets (end a room's sockets), on every instance."""

from __future__ import annotations

from typing import Protocol


class Sockets(Protocol):
    """Socket control across instances (wiring implements it over Socket.IO and the presence registry)."""

    async def end_room(self, room: str) -> None:
        """Disconnect every socket in ``room`` on every instance, then empty the room."""
        ...

    async def close_room(self, room: str) -> None:
        """Empty ``room`` on every instance (its sockets stay connected)."""
        ...
