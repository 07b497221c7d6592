"""Dowell Chat V2 calls (``callUser``, ``answerCall``, ``endCall``): a peer is a socket id, as old clients send,
or a user id reaching every socket of that user on any instance. The relay carries the peers' raw signals.
"""

from __future__ import annotations

from models.calls import (
    CALL_ACCEPTED,
    CALL_USER,
    OPEN_STATES,
    AnswerCallPayload,
    Call,
    CallAccepted,
    CallProtocol,
    CallState,
    CallUserPayload,
    CallUserSignal,
    EndReason,
)
from models.errors import Conflict, NotFound
from models.roles import Principal
from models.rooms import peer_rooms
from services.call_lifecycle import CallLifecycle


class DowellCalls:
    """The Dowell call use cases, over the shared call lifecycle."""

    def __init__(self, line: CallLifecycle) -> None:
        self.line = line
        self.store = line.store
        self.emitter = line.emitter
        self.clock = line.clock

    async def call_user(self, sid: str, who: Principal | None, p: CallUserPayload) -> str:
        """Dowell ``callUser``: relay the caller's signal to a peer; return the call id."""
        # the caller is who the server knows, never what the payload says: a signed-in user by
        # its account (verified), anyone else by its socket id with the name it typed (unverified)
        sender, name = (who.user_id, who.name) if who else (sid, p.name)
        call = self.line.new_call(
            CallProtocol.DOWELL,
            sid,
            [p.userToCall],
            who.user_id if who else None,
            caller_name=name,
            caller_ref=sender,
        )
        await self.line.place(call)
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
            mine[0].id, who.user_id if who else None, sid, self.line.instance_id, self.clock()
        )
        if answered is None:
            raise Conflict("the call is no longer ringing", {"call_id": mine[0].id})
        self.line.stop_ringing(answered.id)
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
        self.line.stop_ringing(call.id)
        await self.line.tell_ended(call, skip_sid=sid)
        return call.id


def _refs(sid: str, who: Principal | None) -> list[str]:
    """The names a socket can be called by: its id, and its user id when signed in."""
    return [sid] + ([who.user_id] if who else [])
