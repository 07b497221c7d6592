"""WebRTC call signalling between users and widget visitors (the server relays; media never passes through it)."""

from __future__ import annotations

from typing import Any

from auth.workspace_keys import authenticate_workspace
from handlers import calls_dowell
from handlers.background import start_periodic
from handlers.calls_service import CallService
from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from models.calls import (
    CallAgentsPayload,
    CallAnswerPayload,
    CallIcePayload,
    CallIdPayload,
    CallInvitePayload,
    CallProtocol,
    CallState,
    EndReason,
    busy,
)
from models.errors import Conflict, Forbidden, InvalidPayload, NotFound, Unauthorized
from models.roles import Role
from models.rooms import user_room
from services.widget import session_visitor
from storage.calls import make_call_store
from storage.workspaces import make_workspace_store

SWEEP_MAX_SECONDS = 15.0
VISITOR = "Visitor"


async def setup(deps: Deps) -> EventRouter:
    """Register the call events (Deskline's and Dowell's); needs the presence domain set up first."""
    if deps.presence is None:
        raise RuntimeError("handlers.presence must be set up before handlers.calls")
    store = make_call_store(deps.db)
    await store.init()
    service = CallService(deps, store, deps.presence.instance_id)
    deps.calls = service
    deps.disconnect_hooks.append(service.socket_gone)
    deps.presence.dead_instance_hooks.append(service.instance_lost)
    deps.shutdown_hooks.append(service.stop)
    start_periodic(deps, "calls-sweep", min(deps.settings.call_ring_seconds, SWEEP_MAX_SECONDS), service.sweep)
    workspaces = make_workspace_store(deps.db)
    await workspaces.init()
    router = EventRouter(deps)
    calls_dowell.register(router, service)

    async def ring(
        ctx: EventContext, invited: list[str], media: str, sdp: str, visitor_name: str | None = None
    ) -> dict[str, Any]:
        who = ctx.principal
        user_id, name = (who.user_id, who.name) if who else (None, visitor_name or VISITOR)
        call = service.new_call(CallProtocol.DESKLINE, ctx.sid, invited, user_id, caller_name=name, media=media)
        await service.place(call)
        incoming = {"call_id": call.id, "from_user": user_id, "from_name": name, "media": media, "sdp": sdp}
        await deps.emit("call_incoming", incoming, to=[user_room(user_id) for user_id in invited])
        return call.public()

    async def agent_members(workspace_id: str) -> set[str]:
        return {m.user_id for m in await workspaces.list_members(workspace_id) if m.role == Role.AGENT}

    @router.on("call_invite", CallInvitePayload, signed_in=True)
    async def call_invite(ctx: EventContext, p: CallInvitePayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            who = ctx.require()
            if p.to_user == who.user_id:
                raise InvalidPayload("you cannot call yourself", [{"field": "to_user", "message": "is you"}])
            callee = await deps.accounts.store.get_user(p.to_user)
            if not callee.active:
                raise NotFound("no such user", {"user_id": p.to_user})
            engaged = await store.busy([who.user_id, p.to_user])
            for party in (who.user_id, p.to_user):  # no hold: a caller in a call cannot place another
                if party in engaged:
                    raise busy(party)
            return await ring(ctx, [p.to_user], p.media, p.sdp)

    @router.on("call_agents", CallAgentsPayload)
    async def call_agents(ctx: EventContext, p: CallAgentsPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            who = ctx.principal
            members: set[str] | None = None
            if p.workspace_id is not None and p.api_key is not None:  # the back-office key (compatibility)
                workspace = await authenticate_workspace(workspaces, p.workspace_id, p.api_key)
                members = await agent_members(workspace.id)
            elif (visitor := await session_visitor(workspaces, ctx.session)) is not None:
                members = await agent_members(visitor.workspace_id)  # a widget socket: its own workspace
            elif who is None:
                raise Unauthorized("sign in, or connect with the widget token (auth.widget_token + visitor_secret)")
            if who is not None and await store.busy([who.user_id]):
                raise busy(who.user_id)
            online = await deps.presence.available(Role.AGENT)
            agents = [a for a in online if (members is None or a in members) and (who is None or a != who.user_id)]
            engaged = await store.busy(agents)
            agents = [a for a in agents if a not in engaged]
            if not agents:
                raise NotFound("no agent is available right now")
            return await ring(ctx, agents, p.media, p.sdp, p.name)

    @router.on("call_answer", CallAnswerPayload, signed_in=True)
    async def call_answer(ctx: EventContext, p: CallAnswerPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            who = ctx.require()
            call = await service.get(p.call_id)
            if who.user_id not in call.invited:
                raise Forbidden("only a called user can answer this call", {"call_id": call.id})
            # Conflict (busy) when this user or the caller is already in an active call; nothing changes
            answered = await store.answer(call.id, who.user_id, ctx.sid, service.instance_id, deps.clock())
            if answered is None:
                state = (await store.get(call.id)).state
                raise Conflict(f"the call is no longer ringing (it is {state})", {"call_id": call.id, "state": state})
            service.stop_ringing(call.id)
            answer = {"call_id": call.id, "sdp": p.sdp, "by_user": who.user_id}
            await deps.emit("call_answered", answer, to=call.caller_sid)
            taken = {"call_id": call.id, "by_user": who.user_id}
            await deps.emit("call_taken", taken, to=[user_room(u) for u in call.invited], skip_sid=ctx.sid)
            return answered.public()

    @router.on("call_ice", CallIcePayload)
    async def call_ice(ctx: EventContext, p: CallIcePayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            sender = ctx.principal.user_id if ctx.principal else None
            call = await service.get_as_party(p.call_id, ctx.sid)
            if call.state == CallState.ENDED:
                raise Conflict("the call has ended", {"call_id": call.id})
            to = call.caller_sid if ctx.sid == call.callee_sid else service.other_rooms(call)
            candidate = p.candidate.model_dump(exclude_none=True)
            await deps.emit("call_ice", {"call_id": call.id, "candidate": candidate, "from_user": sender}, to=to)
            return {"call_id": call.id}

    @router.on("call_reject", CallIdPayload, signed_in=True)
    async def call_reject(ctx: EventContext, p: CallIdPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            who = ctx.require()
            call = await service.get(p.call_id)
            if who.user_id not in call.invited:
                raise Forbidden("only a called user can reject this call", {"call_id": call.id})
            declined = await store.reject(call.id, who.user_id)
            if declined is None:
                raise Conflict("the call is no longer ringing", {"call_id": call.id})
            if set(declined.invited) <= set(declined.rejected):
                ended = await service.end(declined, EndReason.REJECTED, who.user_id, ctx.sid, (CallState.RINGING,))
                return ended.public()
            mine = {"call_id": call.id, "reason": EndReason.REJECTED, "by_user": who.user_id}
            await deps.emit("call_ended", mine, to=user_room(who.user_id), skip_sid=ctx.sid)
            return declined.public()

    @router.on("call_hangup", CallIdPayload)
    async def call_hangup(ctx: EventContext, p: CallIdPayload) -> dict[str, Any]:
        async with service.serial(ctx.sid):
            by = ctx.principal.user_id if ctx.principal else None
            call = await service.get_as_party(p.call_id, ctx.sid)
            return (await service.end(call, EndReason.HANGUP, by, ctx.sid)).public()

    return router
