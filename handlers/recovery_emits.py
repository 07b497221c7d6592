"""Connection-state recovery, emitting side: every broadcast persisted once, its offset appended for recovering sockets.

A broadcast (no callback, no binary attachment) is persisted once by the instance that emits it and gets an
offset, unless no socket could ever ask for it back: when this process knows every session (one process, no
Redis), a broadcast none of whose recipients asked for recovery, and that no session kept within the window
could be replayed (``SessionRecoveryService.may_replay``), is delivered without being persisted. With Redis
the offset travels in the published message, so every instance appends the same one. A socket that asked
for recovery (``DesklineSocket.recovery_pid``) receives ``[event, *args, "<offset>"]``, the form
socket.io-client reads ``socket._lastOffset`` from; other sockets get the packet unchanged. Both forms are
encoded once per broadcast. While a recovered socket's missed packets are read back, its live packets are held
(``DesklineSocket.held``) and released after them, in offset order, each once.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, Protocol

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from services.session_recovery import SessionRecoveryService

log = logging.getLogger("deskline.recovery")

# The offset of the broadcast being delivered (None: not persisted), set around one emit.
packet_offset: ContextVar[int | None] = ContextVar("packet_offset", default=None)
# The sockets a persisted broadcast goes to on this instance: those in its rooms when it was emitted, not those
# that joined while it was being written (None: whoever is in the rooms at delivery). Recovering sockets get it
# either way: one being restored must not miss a packet written after its replay was read.
emit_recipients: ContextVar[frozenset[str] | None] = ContextVar("emit_recipients", default=None)
# The sid a recovering socket gets back (None: a new one), set around its connect.
restoring_sid: ContextVar[str | None] = ContextVar("restoring_sid", default=None)
# The pid a connecting socket is given (None: not recovering), set around its connect and read when its CONNECT
# reply is sent.
connect_pid: ContextVar[str | None] = ContextVar("connect_pid", default=None)


class RecoverableSocket(Protocol):
    """What delivery needs of an Engine.IO socket (``handlers.sio_engine.DesklineSocket``)."""

    recovery_pid: str | None
    held: list[tuple[int, eio_packet.Packet]] | None
    replayed_to: int

    def push(self, pkt: eio_packet.Packet, frame: bytes | None = None) -> None:
        """Send or queue one packet."""


def with_offset(encoded: str, offset: int) -> str:
    """Return an encoded EVENT packet (``2["event",...]``) with ``offset`` appended as its last argument."""
    return f'{encoded[:-1]},"{offset}"]'


class OffsetDelivery:
    """One broadcast's offset form, encoded once, pushed to (or held for) each recovering socket."""

    def __init__(self, encoded: str, offset: int) -> None:
        self.offset = offset
        self.pkt = eio_packet.Packet(eio_packet.MESSAGE, with_offset(encoded, offset))
        self.frame: bytes | None = None

    def deliver(self, sock: RecoverableSocket, frame_of: Any) -> None:
        """Push the offset form to ``sock`` now, or hold it while the socket's missed packets are read back."""
        if sock.held is not None:
            sock.held.append((self.offset, self.pkt))
            return
        if self.frame is None:
            self.frame = frame_of(self.pkt.encode())
        sock.push(self.pkt, self.frame)


def replay(sock: RecoverableSocket, missed: list[tuple[int, str]]) -> int:
    """Push the missed packets ``(offset, [event, *args] JSON)`` then the held ones, by offset, each once."""
    held, sock.held = sock.held or [], None
    last = 0
    for offset, data in missed:
        sock.push(eio_packet.Packet(eio_packet.MESSAGE, with_offset(f"{sio_packet.EVENT}{data}", offset)))
        last = offset
    for offset, pkt in sorted(held, key=lambda each: each[0]):
        if offset > last:
            sock.push(pkt)
            last = offset
    sock.replayed_to = last  # a packet persisted before the replay was read but delivered after it: not again
    return last


def _rooms(room: Any) -> list[str]:
    if room is None:
        return []
    return [str(r) for r in room] if isinstance(room, list | tuple | set) else [str(room)]


def _skipped(skip_sid: Any) -> list[str]:
    if skip_sid is None:
        return []
    return [str(s) for s in skip_sid] if isinstance(skip_sid, list | tuple | set) else [str(skip_sid)]


class RecoveringEmits:
    """Client-manager mixin (first in the MRO): persists each broadcast and restores a recovering socket's sid."""

    server: Any

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Persist the broadcast (when recovery is on) and emit it with its offset set for delivery."""
        recovery: SessionRecoveryService | None = getattr(self.server, "recovery", None)
        room = to or room
        args = list(data) if isinstance(data, tuple) else [data] if data is not None else []
        if recovery is None or callback is not None or (namespace or "/") != "/" or self._never_replayed(room):
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)  # type: ignore[misc]
        manager: Any = self
        participants = list(manager.get_participants("/", room)) if "/" in manager.rooms else []
        if not recovery.may_replay(_rooms(room)) and not self._any_recovering(participants):
            # no socket that could ever ask for it back: delivered, not persisted (nor given an offset)
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)  # type: ignore[misc]
        try:
            encoded = self.server.packet_class.json.dumps([event, *args], separators=(",", ":"))
        except TypeError:  # a binary value (orjson takes no bytes): sent with its attachments, never persisted
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)  # type: ignore[misc]
        members = frozenset(sid for sid, _ in participants) if "/" in manager.rooms else None
        try:
            offset = await recovery.persist(encoded, _rooms(room), _skipped(skip_sid))
        except Exception:  # the store is down: deliver anyway, without an offset (a later drop replays nothing)
            log.exception("event=recovery_persist code=internal")
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)  # type: ignore[misc]
        token, snapshot = packet_offset.set(offset), emit_recipients.set(members)
        try:
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)  # type: ignore[misc]
        finally:
            packet_offset.reset(token)
            emit_recipients.reset(snapshot)

    def _any_recovering(self, participants: list[tuple[str, str]]) -> bool:
        """Whether one of these ``(sid, eio_sid)`` sockets asked for recovery, or is connecting with it now."""
        if connect_pid.get() is not None:
            return True
        sockets = self.server.eio.sockets
        for _, eio_sid in participants:
            sock = sockets.get(eio_sid)
            if sock is not None and (sock.recovery_pid is not None or sock.held is not None):
                return True
        return False

    def _never_replayed(self, room: Any) -> bool:
        """Return whether an emit to ``room`` can never be replayed: it is addressed to one socket of this instance
        that did not ask for recovery (and is not connecting with it now), so persisting it would be wasted."""
        if not isinstance(room, str) or connect_pid.get() is not None:
            return False
        manager: Any = self
        eio_sid = manager.eio_sid_from_sid(room, "/")
        sock = self.server.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return sock is not None and sock.recovery_pid is None

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """Register a connecting socket; a recovering one under its previous sid (None if that sid is taken)."""
        sid = restoring_sid.get()
        if sid is None:
            return await super().pre_connect(eio_sid, namespace)  # type: ignore[misc,no-any-return]
        manager: Any = self
        if manager.is_connected(sid, namespace) or manager.is_pre_connected(sid, namespace):
            return None
        manager.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        manager.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        manager.pending_connect.setdefault(namespace, []).append(sid)
        return sid

    async def _publish(self, data: Any) -> Any:
        """Publish to the other instances; an emit carries its offset."""
        offset = packet_offset.get()
        if offset is not None and isinstance(data, dict) and data.get("method") == "emit":
            data = {**data, "offset": offset}
        return await super()._publish(data)  # type: ignore[misc]

    async def _handle_emit(self, message: dict[str, Any]) -> Any:
        """Deliver an emit published by another instance with the offset it was persisted under."""
        if "offset" not in message:
            return await super()._handle_emit(message)  # type: ignore[misc]
        token = packet_offset.set(int(message["offset"]))
        try:
            return await super()._handle_emit(message)  # type: ignore[misc]
        finally:
            packet_offset.reset(token)
