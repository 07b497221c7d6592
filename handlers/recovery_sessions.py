"""Connection-state recovery, session side: the socket.io protocol on connect, disconnect and retried events.

A client opts in with ``auth.recover = true``. Its CONNECT reply then carries a private session id ``pid`` next to
the ``sid``, and every broadcast it receives ends with an offset (``handlers.recovery_emits``). Its session (sid,
rooms, principal, replay start) is saved as it changes: at connect, on each room it enters or leaves, and again
every quarter window while it is connected, so it outlives a crash of the process (``kill -9``) by at least three
quarters of ``recovery_window_seconds``; when its transport drops it is saved for the whole window; when it
disconnects on purpose it is deleted. socket.io-client reconnects with ``{pid, offset}`` added to its auth; the
connect handler runs again on that auth (so the principal is checked against the account as it is now, and
signed-in, ticket and widget rooms are derived again), then the socket gets its sid, its public rooms and the
private rooms it may still be in (``handlers.recovery_rooms``) back, and every persisted broadcast after
``offset`` to one of its rooms is replayed, in order, before anything newer.

An event sent with a trailing ``{"retry_key": "..."}`` argument by a recovering socket runs once per key and
session: a retry (socket.io-client's ``retries``, which resends with a new ack id) gets the first try's ack.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from socketio import packet

from handlers.events import failure
from handlers.recovery_emits import connect_pid, replay, restoring_sid
from models.errors import Conflict
from models.session_recovery import (
    DROPPED_KEY,
    OFFSET_KEY,
    OPT_IN_KEY,
    PID_KEY,
    SavedSession,
    restorable_room,
)
from services.session_recovery import SessionRecoveryService

log = logging.getLogger("deskline.recovery")

RETRY_KEY = "retry_key"
MAX_KEY_LENGTH = 64
GONE_POLLS, GONE_POLL_SECONDS = 100, 0.05  # how long a reconnect waits for its old socket's disconnect to end
AuthIdentity = Callable[[dict[str, Any], dict[str, Any]], Awaitable[str | None]]
SessionIdentity = Callable[[dict[str, Any]], str | None]
RoomCheck = Callable[[dict[str, Any], list[str]], Awaitable[list[str]]]


def asks_recovery(auth: Any) -> bool:
    """Return whether a CONNECT's auth opts in (``recover: true``) or comes back with a ``pid``."""
    return isinstance(auth, dict) and (auth.get(OPT_IN_KEY) is True or isinstance(auth.get(PID_KEY), str))


def client_offset(auth: dict[str, Any]) -> int | None:
    """Return the offset of the last packet the client received, if it sent a well-formed one."""
    raw = auth.get(OFFSET_KEY)
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) <= 20 else None


def retry_key(data: list[Any]) -> str | None:
    """Return the ``retry_key`` of an event ``[name, payload, {"retry_key": key}]``, if it has a valid one."""
    last = data[-1] if len(data) >= 3 else None
    key = last.get(RETRY_KEY) if isinstance(last, dict) and len(last) == 1 else None
    return key if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH else None


def ack_args(result: Any) -> list[Any]:
    """Return a handler's return value as ACK arguments (tuples spread, None for none)."""
    if result is None:
        return []
    return list(result) if isinstance(result, tuple) else [result]


class RecoveringServer(socketio.AsyncServer):
    """``AsyncServer`` mixin speaking socket.io's connection-state recovery when ``recovery`` is set."""

    recovery: SessionRecoveryService | None = None  # set by wiring when RECOVERY_WINDOW_SECONDS > 0
    auth_identity: AuthIdentity | None = None  # who a connect auth proves to be (handlers.recovery_identity)
    session_identity: SessionIdentity | None = None  # who a connected socket is
    private_rooms: RoomCheck | None = None  # which saved private rooms it may enter again (handlers.recovery_rooms)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        """Connect; a recovering client gets a pid, and within the window its sid, rooms and missed packets."""
        recovery, sock = self.recovery, self.eio.sockets.get(eio_sid)
        if recovery is None or sock is None or (namespace or "/") != "/" or not asks_recovery(data):
            return await super()._handle_connect(eio_sid, namespace, data)
        auth = {k: v for k, v in data.items() if k not in (PID_KEY, OFFSET_KEY, OPT_IN_KEY)}
        pid = data.get(PID_KEY)
        saved = await recovery.take(pid) if isinstance(pid, str) and 0 < len(pid) <= MAX_KEY_LENGTH else None
        if saved is not None and not self.manager.is_connected(saved.sid, "/"):
            await self._until_gone(saved.sid)
        if saved is not None and self.manager.is_connected(saved.sid, "/"):
            saved = None  # its old socket is still here (the drop is not noticed yet): it saves itself when it goes
        if saved is not None and saved.who != await self._proves(auth, eio_sid):
            log.info("event=recover code=unauthorized reason=identity_differs")
            await recovery.keep(saved)  # still its owner's to take back (within a fresh window)
            saved = None  # this socket gets a fresh session: not the old sid, rooms or missed events
        given = saved.pid if saved is not None else secrets.token_urlsafe(16)
        if saved is not None:
            sock.held = []  # live packets wait until the missed ones are out
        tokens = restoring_sid.set(saved.sid if saved else None), connect_pid.set(given)
        try:
            await super()._handle_connect(eio_sid, "/", auth or None)
        finally:
            restoring_sid.reset(tokens[0])
            connect_pid.reset(tokens[1])
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is None or not self.manager.is_connected(sid, "/"):
            sock.held = None
            return
        sock.recovery_pid = given
        if saved is None:
            sock.recovery_since = await recovery.last_offset()
        else:
            await self._restore(sock, sid, saved, client_offset(data))
        await self._keep(eio_sid, given, sock.recovery_since)  # saved now: a crash of this process loses nothing

    async def _until_gone(self, sid: str) -> None:
        """Wait (a few seconds at most) until the old socket of ``sid`` is through its disconnect.

        Its disconnect hooks may still run; once they end, the manager takes ``sid`` out of every room, which
        would also take the recovered socket (the same sid) out of the rooms it was just given back.
        """
        for _ in range(GONE_POLLS):
            if self.manager.eio_sid_from_sid(sid, "/") is None:
                return
            await asyncio.sleep(GONE_POLL_SECONDS)

    async def _proves(self, auth: dict[str, Any], eio_sid: str) -> str | None:
        """Return the identity the reconnect's auth proves (None: anonymous)."""
        if self.auth_identity is None:
            return None
        return await self.auth_identity(auth, self.environ.get(eio_sid, {}))

    async def _restore(self, sock: Any, sid: str, saved: SavedSession, offset: int | None) -> None:
        """Give a recovered socket its open rooms back and replay what it missed, then what came meanwhile."""
        assert self.recovery is not None
        private = [room for room in saved.rooms if not restorable_room(room)]
        if private and self.private_rooms is not None:
            private = await self.private_rooms(await self.get_session(sid), private)
        for room in [*filter(restorable_room, saved.rooms), *private]:
            await super().enter_room(sid, room)  # one save afterwards, not one per room
        start = max(offset or 0, saved.since)  # never before the socket first connected
        try:
            missed = await self.recovery.missed(start, [r for r in self.rooms(sid) if r is not None], sid)
        except Exception:
            log.exception("event=recover sid=%s code=internal", sid)
            missed = []
        last = replay(sock, [(p.offset, p.data) for p in missed])
        sock.recovery_since = max(start, last)
        log.info("event=recover sid=%s replayed=%d", sid, len(missed))

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        """Send a packet; the CONNECT reply of a recovering socket carries its ``pid``."""
        pid = connect_pid.get()
        if pid is not None and pkt.packet_type == packet.CONNECT and isinstance(pkt.data, dict):
            pkt.data = {**pkt.data, PID_KEY: pid}
        await super()._send_packet(eio_sid, pkt)

    async def _handle_disconnect(self, eio_sid: str, namespace: str | None, reason: Any = None) -> None:
        """Disconnect; a recovering socket whose transport dropped keeps its session for the window."""
        sock = self.eio.sockets.get(eio_sid)
        if self.recovery is not None and sock is not None and sock.recovery_pid is not None:
            pid, sock.recovery_pid = sock.recovery_pid, None
            if reason not in (None, self.reason.CLIENT_DISCONNECT):
                await self._keep(eio_sid, pid, sock.recovery_since)
                await self._mark_dropped(eio_sid)
            else:  # it left on purpose: nothing to come back to
                try:
                    await self.recovery.take(pid)
                except Exception:
                    log.exception("event=recovery_forget code=internal")
        await super()._handle_disconnect(eio_sid, namespace, reason)

    async def _mark_dropped(self, eio_sid: str) -> None:
        """Tell the disconnect hooks (through the socket's session) that this socket may come back."""
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is not None:
            (await self.get_session(sid))[DROPPED_KEY] = True

    async def _keep(self, eio_sid: str, pid: str, since: int) -> None:
        """Save the session of a socket that dropped, for the window."""
        assert self.recovery is not None
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is None or not self.manager.is_connected(sid, "/"):
            return
        rooms = sorted(r for r in self.manager.get_rooms(sid, "/") if r is not None and r != sid)
        session = await self.get_session(sid)
        who = self.session_identity(session) if self.session_identity is not None else None
        try:
            await self.recovery.keep(SavedSession(pid, sid, rooms, who, since))
        except Exception:
            log.exception("event=recovery_keep sid=%s code=internal", sid)

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Enter ``room``; a recovering socket's saved session gets it at once."""
        await super().enter_room(sid, room, namespace)
        await self._rooms_changed(sid, namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Leave ``room``; a recovering socket's saved session loses it at once."""
        await super().leave_room(sid, room, namespace)
        await self._rooms_changed(sid, namespace)

    async def _rooms_changed(self, sid: str, namespace: str | None) -> None:
        """Save the session of a local recovering socket whose rooms changed."""
        eio_sid = self.manager.eio_sid_from_sid(sid, "/") if (namespace or "/") == "/" else None
        sock = self.eio.sockets.get(eio_sid) if eio_sid is not None and self.recovery is not None else None
        if sock is not None and sock.recovery_pid is not None:
            await self._keep(eio_sid, sock.recovery_pid, sock.recovery_since)

    async def refresh_sessions(self) -> None:
        """Save again every connected recovering socket's session, so it outlives a crash for (most of) the window."""
        for eio_sid, sock in list(self.eio.sockets.items()):
            if sock.recovery_pid is not None and not sock.closed:
                await self._keep(eio_sid, sock.recovery_pid, sock.recovery_since)

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: int | None
    ) -> Any:
        """Run an event; one with a ``retry_key`` from a recovering socket runs once, its retries get the same ack."""
        sock = self.eio.sockets.get(eio_sid)
        pid = sock.recovery_pid if sock is not None else None
        key = retry_key(data) if pid is not None and id is not None and self.recovery is not None else None
        if key is None or self.recovery is None or pid is None:
            return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        claim = await self.recovery.claim(pid, key)
        if claim.new:
            args = ack_args(await self._trigger_event(data[0], namespace, sid, *data[1:-1]))
            await self.recovery.answered(pid, key, self.packet_class.json.dumps(args))
        elif claim.ack is not None:
            args = self.packet_class.json.loads(claim.ack)
            log.info("event=%s sid=%s code=duplicate key=%s", str(data[0])[:64], sid, key)
        else:
            args = [failure(Conflict("this request is still running: retry later", {"retry_key": key}))]
        await self._send_packet(eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=args))
