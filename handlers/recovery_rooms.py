"""Which private rooms a recovered socket gets back: each after checking the reconnect's principal again.

Public rooms (``chat:``, ``office:<ref>``) go back as saved (``models.session_recovery.restorable_room``). Of
the private ones, those whose right can be checked now are restored when it still holds:

- ``workspace:<id>`` and ``workspace:<id>:staff:<own user id>``: the user is still a member of the workspace;
- ``workspace:<id>:admins``: the user is still an admin (and the workspace exists);
- ``presence:<user>``: the socket is signed in (anyone signed in may watch a presence).

Every other private room (``office:<ref>:managers``, ``pool:admins``, another user's staff room, ...) is not
restored: the client joins it again. Signed-in, ticket and widget rooms are derived again by ``connect``.
"""

from __future__ import annotations

from typing import Any

from models.errors import DesklineError
from models.roles import PRINCIPAL_KEY, Principal
from services.helpdesk import HelpdeskService


class PrivateRooms:
    """Picks, of a saved session's private rooms, those the reconnecting principal may still be in."""

    def __init__(self, helpdesk: HelpdeskService) -> None:
        self.helpdesk = helpdesk

    async def __call__(self, session: dict[str, Any], rooms: list[str]) -> list[str]:
        """Return the rooms of ``rooms`` the socket with Socket.IO session ``session`` may enter again now."""
        who = session.get(PRINCIPAL_KEY)
        if not isinstance(who, Principal):
            return []
        allowed: list[str] = []
        for room in rooms:
            if await self.allows(who, room):
                allowed.append(room)
        return allowed

    async def allows(self, who: Principal, room: str) -> bool:
        """Return whether ``who`` may be in private room ``room`` now (False for rooms not checked here)."""
        parts = room.split(":")
        if parts[0] == "presence" and len(parts) == 2:
            return True
        if parts[0] != "workspace" or len(parts) not in (2, 3, 4):
            return False
        workspace_id = parts[1]
        try:
            if len(parts) == 3:
                return parts[2] == "admins" and await self.helpdesk.may_subscribe(who, workspace_id)
            if len(parts) == 4 and (parts[2] != "staff" or parts[3] != who.user_id):
                return False
            await self.helpdesk.require_member(who, workspace_id)
            return True
        except DesklineError:
            return False
