"""Public chat, exactly as Dowell Chat V2 clients expect: join, leave, message_event."""

from __future__ import annotations

from typing import Any

from handlers.access import ANONYMOUS
from handlers.compat import DOWELL_CHAT
from handlers.context import EventContext
from handlers.events import EventRouter
from models.chat import ChatMessage, JoinPayload, MessagePayload
from models.rooms import chat_room
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the public chat events."""
    chat = services.chat

    @router.on("join", JoinPayload, access=ANONYMOUS, compat=DOWELL_CHAT)
    async def join(ctx: EventContext, p: JoinPayload) -> dict[str, Any]:
        await ctx.enter(chat_room(p.room))
        return {"room": p.room, "history": await chat.joined(ctx.sid, p.room)}

    @router.on("leave", JoinPayload, access=ANONYMOUS, compat=DOWELL_CHAT)
    async def leave(ctx: EventContext, p: JoinPayload) -> dict[str, Any]:
        await chat.leaving(p.room)
        await ctx.leave(chat_room(p.room))
        return {"room": p.room}

    @router.on("message_event", MessagePayload, access=ANONYMOUS, compat=DOWELL_CHAT)
    async def message_event(ctx: EventContext, p: MessagePayload) -> ChatMessage:
        return await chat.post(ctx.sid, p)
