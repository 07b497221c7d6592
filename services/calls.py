"""WebRTC call signalling, Deskline's and Dowell's: the server relays, media never passes through it.

Call state lives in the database (any instance can move a call on with a conditional update); this instance adds
per-socket ordering, ring timers and the pushes. A Dowell peer (``userToCall``, ``to``) is a socket id, as old
clients send, or a user id reaching every socket of that user on any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from models.calls import (
    CALL_ACCEPTED,
    CALL_ANSWERED,
    CALL_ENDED,
    CALL_ICE,
    CALL_INCOMING,
    CALL_MISSED,
    CALL_TAKEN,
    CALL_USER,
    DOWELL_CALL_ENDED,
    OPEN_STATES,
    AnswerCallPayload,
    Call,
    CallAccepted,
    CallAnswered,
    CallEnded,
    CallIce,
    CallIncoming,
    CallMissed,
    CallProtocol,
    CallState,
    CallTaken,
    CallUserPayload,
    CallUserSignal,
    DowellCallEnded,
    EndReason,
    IceCandidate,
    Media,
    busy,
)
from models.clock import Clock
from models.errors import Conflict, Forbidden, InvalidPayload, NotFound
from models.notify import Kind
from models.roles import Principal, Role
from models.rooms import peer_rooms, user_room
from services.accounts import AccountService
from services.emitter import Emitter
from services.notify import NotifyService
from services.presence import PresenceService
from storage.calls import CallStore
from storage.database import new_id
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.calls")

VISITOR = "Visitor"
SWEEP_MAX_SECONDS = 15.0  # how often, at most, an instance looks for calls that rang out without a timer


class CallService:
    """Places, answers, relays and ends calls; ``presence`` says who is available and names this instance."""

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
        self.notify = notify
        self.emitter = emitter
        self.clock = clock
        self.ring_seconds = ring_seconds
        self.instance_id = presence.instance_id
        self._serial: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}

    @property
    def sweep_seconds(self) -> float:
        """How often to ``sweep``: the ring time, capped at ``SWEEP_MAX_SECONDS``."""
        return min(self.ring_seconds, SWEEP_MAX_SECONDS)

    def serial(self, sid: str) -> asyncio.Lock:
        """The lock that runs one socket's call events one at a time, in arrival order.

        Acquire it before any other await in a handler: the events of a socket reach the
        handler in arrival order, and the lock queues them FIFO. It orders relays; it guards
        no data (state changes are conditional updates in the database).
        """
        return self._serial.setdefault(sid, asyncio.Lock())

    # Deskline calls

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
        call = self.new_call(CallProtocol.DESKLINE, sid, invited, user_id, caller_name=name, media=media)
        await self.place(call)
        incoming = CallIncoming(call_id=call.id, from_user=user_id, from_name=name, media=media, sdp=sdp)
        await self.emitter.push(CALL_INCOMING, incoming, to=[user_room(u) for u in invited])
        return call

    async def answer(self, sid: str, who: Principal, call_id: str, sdp: str) -> Call:
        """Take a ringing call from socket ``sid``; the first answer wins."""
        call = await self.get(call_id)
        if who.user_id not in call.invited:
            raise Forbidden("only a called user can answer this call", {"call_id": call.id})
        # Conflict (busy) when this user or the caller is already in an active call; nothing changes
        answered = await self.store.answer(call.id, who.user_id, sid, self.instance_id, self.clock())
        if answered is None:
            state = (await self.store.get(call.id)).state
            raise Conflict(f"the call is no longer ringing (it is {state})", {"call_id": call.id, "state": state})
        self.stop_ringing(call.id)
        await self.emitter.push(
            CALL_ANSWERED, CallAnswered(call_id=call.id, sdp=sdp, by_user=who.user_id), to=call.caller_sid
        )
        taken = CallTaken(call_id=call.id, by_user=who.user_id)
        await self.emitter.push(CALL_TAKEN, taken, to=[user_room(u) for u in call.invited], skip_sid=sid)
        return answered

    async def ice(self, sid: str, sender: str | None, call_id: str, candidate: IceCandidate) -> str:
        """Relay one ICE candidate from party socket ``sid`` to the other side; return the call id."""
        call = await self.get_as_party(call_id, sid)
        if call.state == CallState.ENDED:
            raise Conflict("the call has ended", {"call_id": call.id})
        to = call.caller_sid if sid == call.callee_sid else self.other_rooms(call)
        pushed = CallIce(call_id=call.id, candidate=candidate.model_dump(exclude_none=True), from_user=sender)
        await self.emitter.push(CALL_ICE, pushed, to=to)
        return call.id

    async def reject(self, sid: str, who: Principal, call_id: str) -> Call:
        """Decline a ringing call; it ends once every invited user declined."""
        call = await self.get(call_id)
        if who.user_id not in call.invited:
            raise Forbidden("only a called user can reject this call", {"call_id": call.id})
        declined = await self.store.reject(call.id, who.user_id)
        if declined is None:
            raise Conflict("the call is no longer ringing", {"call_id": call.id})
        if set(declined.invited) <= set(declined.rejected):
            return await self.end(declined, EndReason.REJECTED, who.user_id, sid, (CallState.RINGING,))
        mine = CallEnded(call_id=call.id, reason=EndReason.REJECTED, by_user=who.user_id)
        await self.emitter.push(CALL_ENDED, mine, to=user_room(who.user_id), skip_sid=sid)
        return declined

    async def hangup(self, sid: str, by: str | None, call_id: str) -> Call:
        """End a call socket ``sid`` is a party of."""
        call = await self.get_as_party(call_id, sid)
        return await self.end(call, EndReason.HANGUP, by, sid)

    # Dowell calls

    async def call_user(self, sid: str, who: Principal | None, p: CallUserPayload) -> str:
        """Dowell ``callUser``: relay the caller's signal to a peer; return the call id."""
        # the caller is who the server knows, never what the payload says: a signed-in user by
        # its account (verified), anyone else by its socket id with the name it typed (unverified)
        sender, name = (who.user_id, who.name) if who else (sid, p.name)
        call = self.new_call(
            CallProtocol.DOWELL,
            sid,
            [p.userToCall],
            who.user_id if who else None,
            caller_name=name,
            caller_ref=sender,
        )
        await self.place(call)
        pushed = CallUserSignal.model_validate(
            {"signal": p.signalData, "from": sender, "name": name, "verified": who is not None}
        )
        await self.emitter.push(CALL_USER, pushed, to=peer_rooms(p.userToCall), skip_sid=sid)
        return call.id

    async def answer_call(self, sid: str, who: Principal | None, p: AnswerCallPayload) -> str:
        """Dowell ``answerCall``: take the call ringing for this socket from peer ``p.to``; return its id."""
        ringing = await self.store.ringing_for(CallProtocol.DOWELL, _refs(sid, who))
        mine = [c for c in ringing if p.to in (c.caller_sid, c.caller_ref, c.caller_user)]
        if not mine:
            raise NotFound("no call from this peer is ringing for you", {"to": p.to})
        # a signed-in user already in an active call (either protocol) gets Conflict (busy) as the ack
        # only: the Dowell contract has no busy signal, so nothing is pushed and the call keeps ringing
        answered = await self.store.answer(
            mine[0].id, who.user_id if who else None, sid, self.instance_id, self.clock()
        )
        if answered is None:
            raise Conflict("the call is no longer ringing", {"call_id": mine[0].id})
        self.stop_ringing(answered.id)
        await self.emitter.push(CALL_ACCEPTED, CallAccepted(signal=p.signal), to=answered.caller_sid)
        return answered.id

    async def end_call(self, sid: str, who: Principal | None) -> list[str]:
        """Dowell ``endCall``: end this socket's Dowell calls and decline those ringing for it; return their ids."""
        by = who.user_id if who else None
        ended: list[str] = []
        mine = [c for c in await self.store.open_calls_of_socket(sid) if c.protocol == CallProtocol.DOWELL]
        for call in mine:
            done = await self.store.end(call.id, EndReason.HANGUP, by, self.clock(), OPEN_STATES)
            ended += [await self._told(done, sid)] if done else []
        for call in await self.store.ringing_for(CallProtocol.DOWELL, _refs(sid, who)):
            done = await self.store.end(call.id, EndReason.REJECTED, by, self.clock(), (CallState.RINGING,))
            ended += [await self._told(done, sid)] if done else []
        return ended

    async def _told(self, call: Call, sid: str) -> str:
        """Stop the call's timer, push ``callEnded`` to its peers, and return its id."""
        self.stop_ringing(call.id)
        await self.tell_ended(call, skip_sid=sid)
        return call.id

    # Shared by both protocols

    def new_call(
        self, protocol: CallProtocol, caller_sid: str, invited: list[str], caller_user: str | None, **extra: Any
    ) -> Call:
        """Return a fresh ringing call placed from socket ``caller_sid`` on this instance."""
        now = self.clock()
        return Call(
            id=new_id(),
            protocol=protocol,
            state=CallState.RINGING,
            caller_user=caller_user,
            caller_sid=caller_sid,
            caller_instance=self.instance_id,
            invited=invited,
            created_at=now,
            ring_deadline=now + timedelta(seconds=self.ring_seconds),
            **extra,
        )

    async def place(self, call: Call) -> None:
        """Store a new call and start its ring timer."""
        await self.store.create(call)
        self._timers[call.id] = asyncio.get_running_loop().create_task(self._ring_out(call.id), name=f"ring-{call.id}")

    async def _ring_out(self, call_id: str) -> None:
        await asyncio.sleep(self.ring_seconds)
        self._timers.pop(call_id, None)
        try:
            ended = await self.store.end(call_id, EndReason.MISSED, None, self.clock(), (CallState.RINGING,))
            if ended is not None:
                await self.tell_ended(ended, skip_sid=None)
        except Exception:
            log.exception("event=call_ring_timeout call=%s code=internal", call_id)

    def stop_ringing(self, call_id: str) -> None:
        """Drop the ring timer of a call that was answered or ended (if it runs on this instance)."""
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()

    async def get(self, call_id: str, protocol: CallProtocol = CallProtocol.DESKLINE) -> Call:
        """Return a call placed with ``protocol``; ``NotFound`` otherwise."""
        call = await self.store.get(call_id)
        if call.protocol != protocol:
            raise NotFound("no such call", {"call_id": call_id})
        return call

    async def get_as_party(self, call_id: str, sid: str) -> Call:
        """Return the (Deskline) call if socket ``sid`` is one of its two parties; else ``Forbidden``."""
        call = await self.get(call_id)
        if sid not in (call.caller_sid, call.callee_sid):
            raise Forbidden("only the two parties of a call may signal on it", {"call_id": call_id})
        return call

    async def end(
        self,
        call: Call,
        reason: EndReason,
        by: str | None,
        sid: str | None,
        states: tuple[CallState, ...] = OPEN_STATES,
    ) -> Call:
        """End a call in one of ``states`` for socket ``sid`` and tell the others; ``Conflict`` if it is not."""
        ended = await self.store.end(call.id, reason, by, self.clock(), states)
        if ended is None:
            message = "the call has already ended" if CallState.ACTIVE in states else "the call is no longer ringing"
            raise Conflict(message, {"call_id": call.id})
        self.stop_ringing(call.id)
        await self.tell_ended(ended, skip_sid=sid)
        return ended

    def other_rooms(self, call: Call) -> list[str]:
        """Rooms reaching the callee side: the answering socket, or every invited user (or Dowell peer)."""
        if call.callee_sid:
            return [call.callee_sid]
        if call.protocol == CallProtocol.DOWELL:
            return [room for ref in call.invited for room in peer_rooms(ref)]
        return [user_room(user_id) for user_id in call.invited]

    async def tell_ended(self, call: Call, skip_sid: str | None) -> None:
        """Push the end of ``call`` to both sides (except socket ``skip_sid``), in its protocol's words."""
        rooms = [call.caller_sid, *self.other_rooms(call)]
        if call.protocol == CallProtocol.DOWELL:
            await self.emitter.push(DOWELL_CALL_ENDED, DowellCallEnded(), to=rooms, skip_sid=skip_sid)
        elif call.end_reason == EndReason.MISSED:
            await self.emitter.push(CALL_MISSED, CallMissed(call_id=call.id), to=rooms)
            if len(call.invited) == 1:
                name = call.caller_name or "someone"
                await self.notify.notify(
                    call.invited[0], Kind.CALL_MISSED, "Missed call", f"{name} called you", {"call_id": call.id}
                )
        else:
            ended = CallEnded(call_id=call.id, reason=call.end_reason, by_user=call.ended_by)
            await self.emitter.push(CALL_ENDED, ended, to=rooms, skip_sid=skip_sid)
        log.info("event=call_ended call=%s reason=%s", call.id, call.end_reason)

    async def socket_gone(self, sid: str, session: dict[str, Any]) -> None:
        """Disconnect hook: end the calls this socket was in, and Dowell calls ringing only this socket."""
        async with self.serial(sid):
            principal: Principal | None = session.get("principal")
            by = principal.user_id if principal else None
            calls = await self.store.open_calls_of_socket(sid)
            calls += [c for c in await self.store.ringing_for(CallProtocol.DOWELL, [sid]) if c.invited == [sid]]
            for call in calls:
                ended = await self.store.end(call.id, EndReason.DISCONNECTED, by, self.clock(), OPEN_STATES)
                if ended is not None:
                    self.stop_ringing(call.id)
                    await self.tell_ended(ended, skip_sid=sid)
        self._serial.pop(sid, None)

    async def sweep(self) -> None:
        """End the calls that rang past their deadline without a timer (e.g. their instance crashed)."""
        for call in await self.store.expire_ringing(self.clock()):
            await self.tell_ended(call, skip_sid=None)

    async def instance_lost(self, instance_id: str) -> None:
        """Dead-instance hook: end the calls that had a party on ``instance_id``."""
        for call in await self.store.end_calls_of_instance(instance_id, self.clock()):
            await self.tell_ended(call, skip_sid=None)

    async def stop(self) -> None:
        """Shutdown hook: stop the ring timers and end the calls of this instance's sockets."""
        for timer in list(self._timers.values()):
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers.clear()
        await self.instance_lost(self.instance_id)


def _refs(sid: str, who: Principal | None) -> list[str]:
    """The names a socket can be called by: its id, and its user id when signed in."""
    return [sid] + ([who.user_id] if who else [])
