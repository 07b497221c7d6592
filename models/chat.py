"""Public chat (Dowell-compatible): rooms and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from models.common import CompatPayload, Document
from models.pushes import Push

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
RoomName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class JoinPayload(CompatPayload):
    """``join`` / ``leave``: a public room name."""

    room: RoomName


class MessagePayload(CompatPayload):
    """``message_event``: every field a non-blank string, as the Dowell server required."""

    type: Text
    room_id: RoomName
    message_data: Text
    side: Text
    author: Text
    message_type: Text


class ChatMessage(Document):
    """A stored public chat message."""

    id: str
    room: str
    type: str
    message_data: str
    side: str
    author: str
    message_type: str
    sid: str
    created_at: datetime


class ChatResponse(Document):
    """Push ``my_response``: a line of the Dowell chat (``sid`` names the author's socket; ``count`` the greeting's)."""

    data: str
    sid: str | None = None
    count: int | None = None


MY_RESPONSE = Push("my_response", ChatResponse, omit_none=True)
