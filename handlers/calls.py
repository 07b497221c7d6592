"""Call events, Deskline's and Dowell Chat V2's (callUser, answerCall, endCall); the use cases: services/calls.py,
services/calls_dowell.py and services/call_lifecycle.py.

Dowell call events keep their wire contract: no failure envelope (the old server sent none), only the ack.
"""

from __future__ import annotations

from typing import Any

from handlers.access import ANONYMOUS, SIGNED_IN
from handlers.context import EventContext
from handlers.events import EventRouter, NoPayload
from models.calls import (
    AnswerCallPayload,
    CallAgentsPayload,
    CallAnswerPayload,
    CallIcePayload,
    CallIdPayload,
    CallInvitePayload,
    CallUserPayload,
)
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the call events."""
    calls = services.calls

    @router.on("call_invite", CallInvitePayload, access=SIGNED_IN)
    async def call_invite(ctx: EventContext, p: CallInvitePayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            call = await calls.invite(ctx.sid, ctx.require(), p.to_user, p.media, p.sdp)
            return call.public()

    @router.on("call_agents", CallAgentsPayload, access=ANONYMOUS)
    async def call_agents(ctx: EventContext, p: CallAgentsPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            workspace_id = await calls.agents_workspace(p.workspace_id, p.api_key, ctx.session, ctx.principal)
            call = await calls.ring_agents(ctx.sid, ctx.principal, workspace_id, p.media, p.sdp, p.name)
            return call.public()

    @router.on("call_answer", CallAnswerPayload, access=SIGNED_IN)
    async def call_answer(ctx: EventContext, p: CallAnswerPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            return (await calls.answer(ctx.sid, ctx.require(), p.call_id, p.sdp)).public()

    @router.on("call_ice", CallIcePayload, access=ANONYMOUS)
    async def call_ice(ctx: EventContext, p: CallIcePayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            sender = ctx.principal.user_id if ctx.principal else None
            return {"call_id": await calls.ice(ctx.sid, sender, p.call_id, p.candidate)}

    @router.on("call_reject", CallIdPayload, access=SIGNED_IN)
    async def call_reject(ctx: EventContext, p: CallIdPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            return (await calls.reject(ctx.sid, ctx.require(), p.call_id)).public()

    @router.on("call_hangup", CallIdPayload, access=ANONYMOUS)
    async def call_hangup(ctx: EventContext, p: CallIdPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            by = ctx.principal.user_id if ctx.principal else None
            return (await calls.hangup(ctx.sid, by, p.call_id)).public()

    # Dowell Chat V2: a peer is a socket id (as old clients send) or a user id (every socket of that user)

    @router.on("callUser", CallUserPayload, access=ANONYMOUS)
    async def call_user(ctx: EventContext, p: CallUserPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            return {"call_id": await calls.dowell.call_user(ctx.sid, ctx.principal, p)}

    @router.on("answerCall", AnswerCallPayload, access=ANONYMOUS)
    async def answer_call(ctx: EventContext, p: AnswerCallPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            return {"call_id": await calls.dowell.answer_call(ctx.sid, ctx.principal, p)}

    @router.on("endCall", NoPayload, access=ANONYMOUS)
    async def end_call(ctx: EventContext, _: NoPayload) -> dict[str, Any]:
        async with calls.serial(ctx.sid):
            return {"ended": await calls.dowell.end_call(ctx.sid, ctx.principal)}
