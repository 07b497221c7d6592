"""Presence: who is online, away or offline, across every instance."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from models.common import Document, Identifier, Payload
from models.pushes import Push

MAX_USERS = 200

UserIds = Annotated[list[Identifier], Field(min_length=1, max_length=MAX_USERS)]


class Status(StrEnum):
    """What ``presence_changed`` and ``get_presence`` report for a user."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class UserIdsPayload(Payload):
    """``get_presence`` / ``watch_presence`` / ``unwatch_presence``: up to 200 user ids."""

    user_ids: UserIds


class SetStatusPayload(Payload):
    """``set_status``: a connected user chooses away or online."""

    status: Literal["online", "away"]


class PresenceChanged(Document):
    """Push ``presence_changed``: a user's status changed (to its watchers, and a staff user's colleagues)."""

    user_id: str
    status: Status


PRESENCE_CHANGED = Push("presence_changed", PresenceChanged)
