"""Notifications every domain sends: in-app now; email and SMS channels plug in here."""

from __future__ import annotations

from typing import Any, Protocol

import socketio

from handlers.rooms import user_room
from models.common import to_jsonable


class Notifier(Protocol):
    """What domains call to tell a user something."""

    async def notify(self, user_id: str, kind: str, title: str, body: str, data: dict[str, Any] | None = None) -> None:
        """Tell ``user_id`` about an event of ``kind`` on the channels they allow."""
        ...


class LiveNotifier:
    """In-app only: pushes ``notification`` to every socket of the user, on every instance."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def notify(self, user_id: str, kind: str, title: str, body: str, data: dict[str, Any] | None = None) -> None:
        """Push the notification live to the user's sockets."""
        payload = {"kind": kind, "title": title, "body": body, "data": to_jsonable(data or {})}
        await self._sio.emit("notification", payload, to=user_room(user_id))
