"""A call's life, shared by Deskline and Dowell calls: placing, the ring timers, ending, and the cleanup hooks.

Call state lives in the database (any instance moves a call on with a conditional update); this instance keeps
the ring timers of the calls it placed and the per-socket ordering of call events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from models.calls import (
    CALL_ENDED,
    CALL_MISSED,
    DOWELL_CALL_ENDED,
    OPEN_STATES,
    Call,
    CallEnded,
    CallMissed,
    CallProtocol,
    CallState,
    DowellCallEnded,
    EndReason,
)
from models.clock import Clock
from models.errors import Conflict, Forbidden, NotFound
from models.notify import Kind
from models.roles import PRINCIPAL_KEY, Principal
from models.rooms import peer_rooms, user_room
from services.emitter import Emitter
from services.notify import NotifyService
from storage.calls import CallStore
from storage.database import new_id

log = logging.getLogger("deskline.calls")

SWEEP_MAX_SECONDS = 15.0  # how often, at most, an instance looks for calls that rang out without a timer


class CallLifecycle:
    """Places calls with a ring timer, ends them (telling both sides), and cleans up after sockets and instances."""

    def __init__(
        self,
        store: CallStore,
        notify: NotifyService,
        emitter: Emitter,
        clock: Clock,
        ring_seconds: float,
        instance_id: str,
    ) -> None:
        self.store = store
        self.notify = notify
        self.emitter = emitter
        self.clock = clock
        self.ring_seconds = ring_seconds
        self.instance_id = instance_id
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
            principal: Principal | None = session.get(PRINCIPAL_KEY)
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
