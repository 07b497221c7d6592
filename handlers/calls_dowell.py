"""Dowell Chat V2 call signalling: callUser, answerCall, endCall, and callEnded on disconnect.

A peer (``userToCall``, ``to``) is a socket id, as old clients send, or a user id reaching every
socket of that user on any instance. Calls are stored like Deskline's, so any instance can check them.
"""

from __future__ import annotations

from typing import Any

from handlers.calls_service import CallService
from handlers.context import EventContext
from handlers.events import EventRouter
from models.calls import OPEN_STATES, AnswerCallPayload, CallProtocol, CallState, CallUserPayload, EndReason
from models.errors import Conflict, NotFound
from models.rooms import peer_rooms


def _my_refs(ctx: EventContext) -> list[str]:
    """The names this socket can be called by: its id, and its user id when signed in."""
    return [ctx.sid] + ([ctx.principal.user_id] if ctx.principal else [])


def register(router: EventRouter, service: CallService) -> None:
    """Register the Dowell-compatible call events on ``router``."""
    deps = service.deps
    store = service.store

    @router.on("callUser", CallUserPayload)
    async def call_user(ctx: EventContext, p: CallUserPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            who = ctx.principal
            # the caller is who the server knows, never what the payload says: a signed-in user by
            # its account (verified), anyone else by its socket id with the name it typed (unverified)
            sender, name = (who.user_id, who.name) if who else (ctx.sid, p.name)
            call = service.new_call(
                CallProtocol.DOWELL,
                ctx.sid,
                [p.userToCall],
                who.user_id if who else None,
                caller_name=name,
                caller_ref=sender,
            )
            await service.place(call)
            pushed = {"signal": p.signalData, "from": sender, "name": name, "verified": who is not None}
            await deps.emit("callUser", pushed, to=peer_rooms(p.userToCall), skip_sid=ctx.sid)
            return {"call_id": call.id}

    @router.on("answerCall", AnswerCallPayload)
    async def answer_call(ctx: EventContext, p: AnswerCallPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            ringing = await store.ringing_for(CallProtocol.DOWELL, _my_refs(ctx))
            mine = [c for c in ringing if p.to in (c.caller_sid, c.caller_ref, c.caller_user)]
            if not mine:
                raise NotFound("no call from this peer is ringing for you", {"to": p.to})
            who = ctx.principal
            # a signed-in user already in an active call (either protocol) gets Conflict (busy) as the ack
            # only: the Dowell contract has no busy signal, so nothing is pushed and the call keeps ringing
            answered = await store.answer(
                mine[0].id, who.user_id if who else None, ctx.sid, service.instance_id, deps.clock()
            )
            if answered is None:
                raise Conflict("the call is no longer ringing", {"call_id": mine[0].id})
            service.stop_ringing(answered.id)
            await deps.emit("callAccepted", p.signal, to=answered.caller_sid)
            return {"call_id": answered.id}

    @router.on("endCall")
    async def end_call(ctx: EventContext, _: Any) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            by = ctx.principal.user_id if ctx.principal else None
            ended: list[str] = []
            mine = [c for c in await store.open_calls_of_socket(ctx.sid) if c.protocol == CallProtocol.DOWELL]
            for call in mine:
                done = await store.end(call.id, EndReason.HANGUP, by, deps.clock(), OPEN_STATES)
                ended += [await _told(service, done, ctx.sid)] if done else []
            for call in await store.ringing_for(CallProtocol.DOWELL, _my_refs(ctx)):
                done = await store.end(call.id, EndReason.REJECTED, by, deps.clock(), (CallState.RINGING,))
                ended += [await _told(service, done, ctx.sid)] if done else []
            return {"ended": ended}


async def _told(service: CallService, call: Any, sid: str) -> str:
    """Stop the call's timer, push ``callEnded`` to its peers, and return its id."""
    service.stop_ringing(call.id)
    await service.tell_ended(call, skip_sid=sid)
    return str(call.id)
