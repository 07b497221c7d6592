"""WebRTC call signalling: the server relays, media never passes through it.

Deskline calls are here; Dowell Chat V2's (``callUser``, ``answerCall``, ``endCall``) are ``services/calls_dowell.py``;
what both share (placing, ring timers, ending, the cleanup hooks) is ``services/call_lifecycle.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from models.calls import (
    CALL_ANSWERED,
    CALL_ENDED,
    CALL_ICE,
    CALL_INCOMING,
    CALL_TAKEN,
    Call,
    CallAnswered,
    CallEnded,
    CallIce,
    CallIncoming,
    CallProtocol,
    CallState,
    CallTaken,
    EndReason,
    IceCandidate,
    Media,
    busy,
)
from models.clock import Clock
from models.errors import Conflict, Forbidden, InvalidPayload, NotFound, Unauthorized
from models.roles import Principal, Role
from models.rooms import user_room
from services.accounts import AccountService
from services.call_lifecycle import CallLifecycle
from services.calls_dowell import DowellCalls
from services.emitter import Emitter
from services.notify import NotifyService
from services.presence import PresenceService
from services.widget_access import session_visitor
from services.workspaces import authenticate_workspace
from storage.calls import CallStore
from storage.workspaces import WorkspaceStore

VISITOR = "Visitor"
NO_CALLER = "sign in, or connect with the widget token (auth.widget_token + visitor_secret)"


class CallService:
    """Places, answers, relays and ends Deskline calls; ``presence`` says who is available and names this instance.

    ``dowell`` holds the Dowell call use cases; ``line`` the lifecycle both share (and the hooks wiring connects).
    """

    def __init__(
        self,
        store: CallStore,
        presence: PresenceService,
        accounts: AccountService,
        workspaces: WorkspaceStore,
        notify: NotifyService,
        emitter: Emitter,
        clock: Clock,
        ring_seconds: float,
    ) -> None:
        self.store = store
        self.presence = presence
        self.accounts = accounts
        self.workspaces = workspaces
        self.emitter = emitter
        self.clock = clock
        self.line = CallLifecycle(store, notify, emitter, clock, ring_seconds, presence.instance_id)
        self.dowell = DowellCalls(self.line)

    def serial(self, sid: str) -> asyncio.Lock:
        """The lock that runs one socket's call events one at a time, in arrival order (``CallLifecycle.serial``)."""
        return self.line.serial(sid)

    @property
    def sweep_seconds(self) -> float:
        """How often to ``sweep`` (``CallLifecycle.sweep_seconds``)."""
        return self.line.sweep_seconds

    async def sweep(self) -> None:
        """End the calls that rang past their deadline without a timer (e.g. their instance crashed)."""
        await self.line.sweep()

    async def socket_gone(self, sid: str, session: dict[str, Any]) -> None:
        """Disconnect hook: end the calls this socket was in, and Dowell calls ringing only this socket."""
        await self.line.socket_gone(sid, session)

    async def instance_lost(self, instance_id: str) -> None:
        """Dead-instance hook: end the calls that had a party on ``instance_id``."""
        await self.line.instance_lost(instance_id)

    async def stop(self) -> None:
        """Shutdown hook: stop the ring timers and end the calls of this instance's sockets."""
        await self.line.stop()

    async def invite(self, sid: str, who: Principal, to_user: str, media: Media, sdp: str) -> Call:
        """Ring one user from socket ``sid``."""
        if to_user == who.user_id:
            raise InvalidPayload("you cannot call yourself", [{"field": "to_user", "message": "is you"}])
        callee = await self.accounts.store.get_user(to_user)
        if not callee.active:
            raise NotFound("no such user", {"user_id": to_user})
        engaged = await self.store.busy([who.user_id, to_user])
        for party in (who.user_id, to_user):  # no hold: a caller in a call cannot place another
            if party in engaged:
                raise busy(party)
        return await self._ring(sid, who, [to_user], media, sdp)

    async def ring_agents(
        self, sid: str, who: Principal | None, workspace_id: str | None, media: Media, sdp: str, name: str | None
    ) -> Call:
        """Ring every available agent (of ``workspace_id`` when given) who is not busy; first answer wins."""
        members = await self._agent_members(workspace_id) if workspace_id is not None else None
        if who is not None and await self.store.busy([who.user_id]):
            raise busy(who.user_id)
        online = await self.presence.available(Role.AGENT)
        agents = [a for a in online if (members is None or a in members) and (who is None or a != who.user_id)]
        engaged = await self.store.busy(agents)
        agents = [a for a in agents if a not in engaged]
        if not agents:
            raise NotFound("no agent is available right now")
        return await self._ring(sid, who, agents, media, sdp, name)

    async def agents_workspace(
        self, workspace_id: str | None, api_key: str | None, session: dict[str, Any], who: Principal | None
    ) -> str | None:
        """Return whose agents ``call_agents`` rings: the keyed workspace, the widget socket's own, or any (None).

        ``Unauthorized`` for a wrong key, or for a caller neither signed in nor a widget visitor.
        """
        if workspace_id is not None and api_key is not None:  # the back-office key (compatibility)
            return (await authenticate_workspace(self.workspaces, workspace_id, api_key)).id
        if (visitor := await session_visitor(self.workspaces, session)) is not None:
            return visitor.workspace_id  # a widget socket: its own workspace
        if who is None:
            raise Unauthorized(NO_CALLER)
        return None

    async def _agent_members(self, workspace_id: str) -> set[str]:
        return {m.user_id for m in await self.workspaces.list_members(workspace_id) if m.role == Role.AGENT}

    async def _ring(
        self,
        sid: str,
        who: Principal | None,
        invited: list[str],
        media: Media,
        sdp: str,
        visitor_name: str | None = None,
    ) -> Call:
        user_id, name = (who.user_id, who.name) if who else (None, visitor_name or VISITOR)
        call = self.line.new_call(CallProtocol.DESKLINE, sid, invited, user_id, caller_name=name, media=media)
        await self.line.place(call)
        incoming = CallIncoming(call_id=call.id, from_user=user_id, from_name=name, media=media, sdp=sdp)
        await self.emitter.push(CALL_INCOMING, incoming, to=[user_room(u) for u in invited])
        return call

    async def answer(self, sid: str, who: Principal, call_id: str, sdp: str) -> Call:
        """Take a ringing call from socket ``sid``; the first answer wins."""
        call = await self.line.get(call_id)
        if who.user_id not in call.invited:
            raise Forbidden("only a called user can answer this call", {"call_id": call.id})
        # Conflict (busy) when this user or the caller is already in an active call; nothing changes
        answered = await self.store.answer(call.id, who.user_id, sid, self.line.instance_id, self.clock())
        if answered is None:
            state = (await self.store.get(call.id)).state
            raise Conflict(f"the call is no longer ringing (it is {state})", {"call_id": call.id, "state": state})
        self.line.stop_ringing(call.id)
        await self.emitter.push(
            CALL_ANSWERED, CallAnswered(call_id=call.id, sdp=sdp, by_user=who.user_id), to=call.caller_sid
        )
        taken = CallTaken(call_id=call.id, by_user=who.user_id)
        await self.emitter.push(CALL_TAKEN, taken, to=[user_room(u) for u in call.invited], skip_sid=sid)
        return answered

    async def ice(self, sid: str, sender: str | None, call_id: str, candidate: IceCandidate) -> str:
        """Relay one ICE candidate from party socket ``sid`` to the other side; return the call id."""
        call = await self.line.get_as_party(call_id, sid)
        if call.state == CallState.ENDED:
            raise Conflict("the call has ended", {"call_id": call.id})
        to = call.caller_sid if sid == call.callee_sid else self.line.other_rooms(call)
        pushed = CallIce(call_id=call.id, candidate=candidate.model_dump(exclude_none=True), from_user=sender)
        await self.emitter.push(CALL_ICE, pushed, to=to)
        return call.id

    async def reject(self, sid: str, who: Principal, call_id: str) -> Call:
        """Decline a ringing call; it ends once every invited user declined."""
        call = await self.line.get(call_id)
        if who.user_id not in call.invited:
            raise Forbidden("only a called user can reject this call", {"call_id": call.id})
        declined = await self.store.reject(call.id, who.user_id)
        if declined is None:
            raise Conflict("the call is no longer ringing", {"call_id": call.id})
        if set(declined.invited) <= set(declined.rejected):
            return await self.line.end(declined, EndReason.REJECTED, who.user_id, sid, (CallState.RINGING,))
        mine = CallEnded(call_id=call.id, reason=EndReason.REJECTED, by_user=who.user_id)
        await self.emitter.push(CALL_ENDED, mine, to=user_room(who.user_id), skip_sid=sid)
        return declined

    async def hangup(self, sid: str, by: str | None, call_id: str) -> Call:
        """End a call socket ``sid`` is a party of."""
        call = await self.line.get_as_party(call_id, sid)
        return await self.line.end(call, EndReason.HANGUP, by, sid)
