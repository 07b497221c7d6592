"""Deskline's Socket.IO server: python-socketio's ``AsyncServer`` plus the answers it does not give.

python-socketio drops an event no handler knows (a client waiting for its ack waits forever) and lets a
packet whose JSON cannot be decoded (nested deeper than 1024 levels) raise inside Engine.IO: a logged
traceback and no ack. This subclass answers both with our error envelope. It runs on ``handlers.sio_engine``'s
Engine.IO server (direct writes to idle WebSockets, a bounded backlog per socket).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from socketio import packet

from handlers.eio_server import DesklineEngine
from handlers.events import MAX_DEPTH, failure
from handlers.metrics import metrics
from handlers.recovery_sessions import RecoveringServer
from handlers.sio_engine import message_size
from handlers.sio_handshake import LeanWebSocket, socket_environ
from handlers.sio_packet import DesklinePacket, MalformedPacket
from models.errors import DesklineError, UnknownEvent, UnreadablePayload

log = logging.getLogger("deskline.events")

# Called for each event no handler knows: (sid, event) -> an error to answer instead of unknown_event.
UnknownEventHook = Callable[[str, str], Awaitable[DesklineError | None]]


class _NoData:
    """A ``json`` stand-in that skips the data part, to read only a packet's header."""

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> None:
        """Ignore ``data``."""
        return None


class _PacketHeader(packet.Packet):
    """A packet decoded up to its type, namespace and id (the data is not parsed)."""

    json = _NoData


class DesklineServer(RecoveringServer):
    """``AsyncServer`` that acks unknown events with ``unknown_event`` and undecodable ones with ``invalid_payload``."""

    def __init__(
        self,
        *args: Any,
        send_backlog: int = DesklineEngine.send_backlog,
        websocket_compression: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("serializer", DesklinePacket)  # data serialised once, no Python walk for binary values
        super().__init__(*args, **kwargs)
        self.eio.send_backlog = send_backlog  # packets one socket may have waiting before it is dropped
        self.eio.websocket_compression = websocket_compression  # permessage-deflate allowed (LeanWebSocket)
        if self.eio._async.get("websocket") is not None:  # the aiohttp driver's table is shared: copy, then replace
            self.eio._async = {**self.eio._async, "websocket": LeanWebSocket}
        self.unknown_event_hook: UnknownEventHook | None = None
        self._skip_attachments: dict[str, int] = {}  # binary attachments still due for a refused binary packet
        self.in_flight = 0  # event handlers running now (a graceful stop waits for them)
        self.stopping = False  # set by a graceful stop: events that arrive now are answered "send it again"
        self._idle = asyncio.Event()
        self._idle.set()

    def _begin(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def _end(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        """Dispatch an event; while stopping, answer it ``internal`` ``{reason: "restarting"}`` instead of running it.

        So every handler that runs finishes before the sockets close, and its ack goes out first; an event refused
        here changed nothing and can be sent again once the client has reconnected.
        """
        if not isinstance(data, list) or not data:  # an event is an array that starts with its name
            await self._drop_malformed(eio_sid, "an event's payload is not a non-empty array")
            return
        if not self.stopping:
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
            if self.manager.is_connected(sid, namespace or "/"):
                self._begin()  # now, not when its task starts: a stop must not miss a handler about to run
                try:
                    await super()._handle_event(eio_sid, namespace, id, data)
                except BaseException:
                    self._end()
                    raise
                if not self.async_handlers:
                    self._end()
                return
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        log.info("event=%s code=internal reason=restarting", str(data[0])[:64] if data else "-")
        if id is not None:
            error = DesklineError("the server is restarting: send it again once reconnected", {"reason": "restarting"})
            ack = self.packet_class(packet.ACK, namespace=namespace or "/", id=id, data=[failure(error)])
            await self._send_packet(eio_sid, ack)

    async def _handle_event_internal(self, *args: Any) -> Any:
        """Run an event's handler, counted in ``in_flight`` since it was dispatched."""
        try:
            return await super()._handle_event_internal(*args)
        finally:
            if self.async_handlers:
                self._end()

    async def until_idle(self, seconds: float) -> bool:
        """Wait until no event handler runs (at most ``seconds``); return whether none does."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            pass
        return not self.in_flight

    async def _trigger_event(self, event: Any, namespace: str, *args: Any) -> Any:
        """Run the event's handler; answer an event no handler knows with ``unknown_event``."""
        try:
            result = await super()._trigger_event(event, namespace, *args)
        except TypeError:
            if isinstance(event, str):
                raise
            result = self.not_handled  # an unhashable "event name" (a list or object) is unknown too
        if result is not self.not_handled or event in self.reserved_events:
            return result
        sid = str(args[0]) if args else "-"
        shown = event[:64] if isinstance(event, str) else type(event).__name__
        error: DesklineError | None = None
        if self.unknown_event_hook is not None and isinstance(event, str):
            error = await self.unknown_event_hook(sid, event)
        if error is None:
            log.debug("event=%s sid=%s code=unknown_event", shown, sid)
            error = UnknownEvent("no such event", {"event": shown})
        return failure(error)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        """Connect to a namespace; one nobody serves is refused ``{"message": "Invalid namespace"}``, as Node does.

        (Upstream refuses it with the bare string "Unable to connect": socket.io-client reads the error's
        ``message`` from an object, so its ``connect_error`` had no message.)
        """
        name = namespace or "/"
        served = name in self.handlers or name in self.namespace_handlers
        if not served and self.namespaces != "*" and name not in self.namespaces:
            refusal = {"message": "Invalid namespace"}
            await self._send_packet(eio_sid, self.packet_class(packet.CONNECT_ERROR, data=refusal, namespace=name))
            return
        await super()._handle_connect(eio_sid, namespace, data)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        """Keep only the environ keys the ``connect`` handler reads (``socket_environ``), not the whole request."""
        return await super()._handle_eio_connect(eio_sid, socket_environ(environ))

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """Dispatch a message; one whose JSON cannot be decoded gets ``invalid_payload`` (acked if asked)."""
        if eio_sid in self._skip_attachments and isinstance(data, bytes):
            self._skip_attachments[eio_sid] -= 1
            if not self._skip_attachments[eio_sid]:
                del self._skip_attachments[eio_sid]
            return
        # The size limit reads the message's length from here (in the handler's task too), unless the message
        # is binary or has brackets enough to be nested too deeply: then it serialises the payload to check it.
        if isinstance(data, str) and data.count("[") + data.count("{") <= MAX_DEPTH:
            message_size.set(len(data) if data.isascii() else len(data.encode()))
        else:
            message_size.set(None)
        self._begin()  # a message being read counts as in flight until its event is dispatched
        try:
            await super()._handle_eio_message(eio_sid, data)
        except json.JSONDecodeError as exc:  # orjson's error subclasses it
            await self._refuse_unreadable(eio_sid, data, str(exc))
        except MalformedPacket as exc:  # not a Socket.IO packet: an unknown type, a bad ack id or namespace
            await self._drop_malformed(eio_sid, str(exc))
        finally:
            self._end()

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        """Send one pushed event packet to a socket of this server, counted in ``deskline_deliveries``."""
        metrics().deliveries.inc()
        await super()._send_eio_packet(eio_sid, eio_pkt)

    def _engineio_server_class(self) -> type[DesklineEngine]:
        """Run on ``DesklineEngine`` (replaces ``socketio.AsyncServer._engineio_server_class``)."""
        return DesklineEngine

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        """Forget the socket's pending attachments, then disconnect it as usual."""
        self._skip_attachments.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _drop_malformed(self, eio_sid: str, reason: str) -> None:
        """Close the connection of a client that sent something that is not a Socket.IO packet, as Node does.

        (Upstream logged a traceback and kept the connection; there is no ack id to answer it with.)
        """
        log.info("event=(malformed) eio_sid=%s code=invalid_payload reason=%r", eio_sid, reason[:80])
        await self.eio.disconnect(eio_sid)

    async def _refuse_unreadable(self, eio_sid: str, data: Any, reason: str) -> None:
        """Log one line and, when the packet is an event with an ack id, ack it ``invalid_payload``."""
        header = _PacketHeader(encoded_packet=data)
        namespace = header.namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        log.info("event=(undecodable) sid=%s code=invalid_payload reason=%r", sid, reason[:80])
        if header.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK) and header.attachment_count:
            self._skip_attachments[eio_sid] = header.attachment_count  # its binary parts follow: drop them
        if header.packet_type not in (packet.EVENT, packet.BINARY_EVENT) or header.id is None or sid is None:
            return
        error = UnreadablePayload("the payload is not valid JSON or is nested too deeply", {"reason": "undecodable"})
        await self._send_packet(
            eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=header.id, data=[failure(error)])
        )
