"""Public chat (Dowell-compatible): rooms and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from models.common import CompatPayload, Document

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
