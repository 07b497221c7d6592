"""``SioSockets``: the ``services.sockets.Sockets`` protocol over Socket.IO and the presence registry."""

from __future__ import annotations

import socketio

from services.presence import PresenceService


class SioSockets:
    """Ends and empties rooms on every instance (the presence registry lists every instance's sockets)."""

    def __init__(self, sio: socketio.AsyncServer, presence: PresenceService) -> None:
        self.sio = sio
        self.presence = presence

    async def end_room(self, room: str) -> None:
        """Disconnect the room's sockets on every instance, then empty it.

        The room may also be a presence group (``enter_widget_rooms``), which lists its sockets on every instance;
        ``sio.disconnect`` of another instance's socket goes to that instance over Redis (as ``end_sessions``).
        """
        sids = {sid for sid, _ in self.sio.manager.get_participants("/", room)}
        sids.update(await self.presence.group_sockets(room))
        for sid in sorted(sids):
            await self.sio.disconnect(sid)
        await self.sio.close_room(room)

    async def close_room(self, room: str) -> None:
        """Empty ``room`` on every instance."""
        await self.sio.close_room(room)
