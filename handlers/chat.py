"""Public chat, exactly as Dowell Chat V2 clients expect: join, leave, message_event."""

from __future__ import annotations

from typing import Any

from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from models.chat import ChatMessage, JoinPayload, MessagePayload
from models.errors import DesklineError, ErrorCode
from models.rooms import chat_room
from storage.chat import make_chat_store
from storage.database import new_id

RESPONSE = "my_response"
GREETING = "Hey how may i help you"
INVALID = "Invalid Data"


async def _say_invalid(ctx: EventContext, err: DesklineError) -> None:
    """Tell an old client its payload was bad, the way the Dowell server did."""
    if err.code in (ErrorCode.INVALID_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE):
        await ctx.emit(RESPONSE, {"data": INVALID})


async def setup(deps: Deps) -> EventRouter:
    """Register the public chat events."""
    store = make_chat_store(deps.db)
    await store.init()
    router = EventRouter(deps)

    @router.on("join", JoinPayload, on_error=_say_invalid)
    async def join(ctx: EventContext, p: JoinPayload) -> dict[str, Any]:
        room = chat_room(p.room)
        await ctx.enter(room)
        await ctx.emit(RESPONSE, {"data": f"{ctx.sid} Joined the Room"}, to=room, skip_self=True)
        history = await store.history(p.room, deps.settings.history_limit)
        for message in history:
            await ctx.emit(RESPONSE, {"data": message.message_data, "sid": message.sid})
        if not history:
            await ctx.emit(RESPONSE, {"data": GREETING})
        return {"room": p.room, "history": len(history)}

    @router.on("leave", JoinPayload, on_error=_say_invalid)
    async def leave(ctx: EventContext, p: JoinPayload) -> dict[str, Any]:
        room = chat_room(p.room)
        await ctx.emit(RESPONSE, {"data": f"Left room: {p.room}"}, to=room)
        await ctx.leave(room)
        return {"room": p.room}

    @router.on("message_event", MessagePayload, on_error=_say_invalid)
    async def message_event(ctx: EventContext, p: MessagePayload) -> ChatMessage:
        message = ChatMessage(
            id=new_id(),
            room=p.room_id,
            type=p.type,
            message_data=p.message_data,
            side=p.side,
            author=p.author,
            message_type=p.message_type,
            sid=ctx.sid,
            created_at=deps.clock(),
        )
        await store.add_message(message)
        await ctx.emit(RESPONSE, {"data": message.message_data, "sid": ctx.sid}, to=chat_room(p.room_id))
        return message

    return router
