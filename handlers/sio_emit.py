"""Deskline's Socket.IO managers: a broadcast is encoded and framed once and pushed to each recipient's socket.

python-socketio starts a task per recipient of every emit; ``DirectEmitManager.emit`` encodes the packet once,
frames it once (server frames are unmasked, so every recipient gets the same bytes) and hands it to each
``handlers.sio_engine.DesklineSocket.push``, which writes it straight to an idle WebSocket or queues it in order.
A socket that opted in to connection-state recovery gets the broadcast's offset as one more argument
(``handlers.recovery_emits``).
"""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from handlers import metrics as observed  # a module: handlers.metrics imports this one's managers
from handlers.recovery_emits import OffsetDelivery, emit_recipients, packet_offset
from handlers.ws_frames import ws_frame


class DirectEmitManager(socketio.AsyncManager):
    """``AsyncManager`` whose emits are encoded and framed once and pushed to each recipient without a task."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """Emit to a room (replaces ``socketio.AsyncManager.emit``); callbacks and binary use upstream's."""
        room = to or room
        if namespace not in self.rooms:
            return
        if callback is not None:
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback)
        args = list(data) if isinstance(data, tuple) else [data] if data is not None else []
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        if isinstance(encoded, list):  # binary attachments: several packets per recipient
            return await super().emit(event, data, namespace, room=room, skip_sid=skip_sid)
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        offset, members = packet_offset.get(), emit_recipients.get()
        with_offset = OffsetDelivery(encoded, offset) if offset is not None else None
        frame: bytes | None = None
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sockets = self.server.eio.sockets
        delivered = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            recovering = sock.recovery_pid is not None or sock.held is not None  # held: being restored now
            if members is not None and sid not in members and not recovering:
                continue  # joined while the broadcast was being persisted (a recovering socket dedups by offset)
            if with_offset is not None and recovering:
                if with_offset.offset <= sock.replayed_to:
                    continue  # its replay, read after this broadcast was persisted, sent it already
                if sock.held is None and with_offset.frame is not None:
                    sock.push(with_offset.pkt, with_offset.frame)
                else:
                    with_offset.deliver(sock, ws_frame)
            else:
                if frame is None:
                    frame = ws_frame(pkt.encode())
                sock.push(pkt, frame)
            delivered += 1
        if delivered:
            observed.metrics().deliveries.inc(delivered)


class DirectEmitRedisManager(socketio.AsyncRedisManager, DirectEmitManager):
    """``AsyncRedisManager`` that delivers locally through ``DirectEmitManager.emit`` (it sits next in the MRO)."""
