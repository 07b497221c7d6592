"""Public chat use cases (Dowell Chat V2): join a room, leave it, post a message."""

from __future__ import annotations

from models.chat import MY_RESPONSE, ChatMessage, ChatResponse, MessagePayload
from models.clock import Clock
from models.rooms import chat_room
from services.emitter import Emitter
from storage.chat import ChatStore
from storage.database import new_id

GREETING = "Hey how may i help you"


class ChatService:
    """Public rooms over a ``ChatStore``; the caller's socket is named by ``sid``, rooms are entered by the handler."""

    def __init__(self, store: ChatStore, emitter: Emitter, clock: Clock, history_limit: int) -> None:
        self.store = store
        self.emitter = emitter
        self.clock = clock
        self.history_limit = history_limit

    async def joined(self, sid: str, room: str) -> int:
        """Tell the room that ``sid`` joined and replay its history (or the greeting) to ``sid``; return its length."""
        await self.emitter.push(
            MY_RESPONSE, ChatResponse(data=f"{sid} Joined the Room"), to=chat_room(room), skip_sid=sid
        )
        history = await self.store.history(room, self.history_limit)
        for message in history:
            await self.emitter.push(MY_RESPONSE, ChatResponse(data=message.message_data, sid=message.sid), to=sid)
        if not history:
            await self.emitter.push(MY_RESPONSE, ChatResponse(data=GREETING), to=sid)
        return len(history)

    async def leaving(self, room: str) -> None:
        """Tell the room (the leaver included) that someone is leaving it."""
        await self.emitter.push(MY_RESPONSE, ChatResponse(data=f"Left room: {room}"), to=chat_room(room))

    async def post(self, sid: str, p: MessagePayload) -> ChatMessage:
        """Store a message from socket ``sid`` and push it to its room."""
        message = ChatMessage(
            id=new_id(),
            room=p.room_id,
            type=p.type,
            message_data=p.message_data,
            side=p.side,
            author=p.author,
            message_type=p.message_type,
            sid=sid,
            created_at=self.clock(),
        )
        await self.store.add_message(message)
        await self.emitter.push(MY_RESPONSE, ChatResponse(data=message.message_data, sid=sid), to=chat_room(p.room_id))
        return message
