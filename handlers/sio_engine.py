"""Deskline's Engine.IO side: sends written straight to an idle WebSocket, in order, with a bounded backlog.

python-engineio puts every outgoing packet on the socket's queue and wakes a writer task for it, and
python-socketio starts a task per recipient of every emit. Here a packet goes straight to the socket's
transport (one ``write``, no task, no queue hop) when that socket has nothing queued or in flight; otherwise
it takes the queue, drained by a writer task that exists only while there is something to drain, so each
socket's packets always leave in the order they were sent. A broadcast is encoded and framed once
(server frames are unmasked: every recipient gets the same bytes). A socket whose queue holds more than
``send_backlog`` packets (a reader too slow for what it is sent) is dropped. Polling sockets and sockets
mid-upgrade always take the queue. Long-polling requests and second WebSockets are answered as Node does
(``handlers.eio_polling``).

Direct writes are batched until the end of the event loop's pass (``handlers.ws_frames.FrameBatch``).

The upstream writer waits for a packet at most ``ping_interval + ping_timeout`` and then closes the
WebSocket; with direct writes its queue can stay empty that long for a healthy client, so our writer has no
idle timeout: the read loop (and the ping check) decide when a client is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextvars import ContextVar
from typing import Any

import engineio
from engineio import packet as eio_packet

from handlers.eio_polling import NodePollingRules
from handlers.ws_frames import ws_frame

log = logging.getLogger("deskline.socket")

# A direct write is skipped (the packet is queued) once the transport holds this many unsent bytes.
DIRECT_WRITE_MAX_BUFFERED = 64 * 1024
# A pong may arrive this long after ``ping_timeout`` (at most ``ping_timeout`` again) before the socket is closed.
PONG_GRACE_SECONDS = 1.0
# The byte length of the text message being dispatched (None for binary ones): the size limit reads it
# instead of serialising the payload again. Set per message; a handler's task inherits the value.
message_size: ContextVar[int | None] = ContextVar("message_size", default=None)


class DesklineSocket(NodePollingRules):
    """``AsyncSocket`` that writes to an idle WebSocket directly and queues only behind pending packets."""

    recovery_pid: str | None = None  # set when the client asked for connection-state recovery (offsets appended)
    recovery_since: int = 0  # the newest offset when it connected (replay start for a zero-event session)
    held: list[tuple[int, eio_packet.Packet]] | None = None  # live packets held while missed ones are replayed
    replayed_to: int = 0  # the newest offset its replay sent: a live packet at or below it was sent already

    def __init__(self, server: Any, sid: str) -> None:
        super().__init__(server, sid)
        self._queue: asyncio.Queue[Any] | None = None  # made on first use: most WebSocket sockets never queue
        self._ping_timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None  # the live WebSocket's transport, else None
        self.direct = False  # the transport takes raw frames (WebSocket live, no compression)
        self.pending = 0  # packets queued for, or being written by, the writer task
        self.writer_task: asyncio.Task[None] | None = None
        self._ws: Any = None  # engine.io's aiohttp WebSocket wrapper while the WebSocket is live
        self.pong_missed = False  # the WebSocket was ended because a ping went unanswered

    @property
    def queue(self) -> asyncio.Queue[Any]:  # type: ignore[override]
        """The outgoing queue, made when first needed (an idle WebSocket socket saves its ~3 kB)."""
        if self._queue is None:
            self._queue = self.server.create_queue()
        return self._queue

    @queue.setter
    def queue(self, value: asyncio.Queue[Any]) -> None:
        self._queue = None  # BaseSocket.__init__ assigns one; leave it unmade until needed

    def schedule_ping(self) -> None:
        """Ping after ``ping_interval`` (replaces ``AsyncSocket.schedule_ping``): a timer, not a sleeping task."""
        if self.last_ping:
            self.last_ping = None
            if self._ping_timer is not None:
                self._ping_timer.cancel()  # the pong came: its deadline is off
            self._ping_timer = asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        """Send the ping that is due (``AsyncSocket._send_ping`` after its sleep) and time its pong."""
        self._ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.push(eio_packet.Packet(eio_packet.PING))
            deadline = self.server.ping_timeout
            if self.transport is not None:  # a WebSocket's pong may be late behind what the client still reads
                deadline += min(PONG_GRACE_SECONDS, self.server.ping_timeout)
            self._ping_timer = asyncio.get_running_loop().call_later(deadline, self._pong_overdue)

    def _pong_overdue(self) -> None:
        """No pong within ``ping_timeout``: end the session as gone by ping timeout (a WebSocket: its connection)."""
        self._ping_timer = None
        if not self.last_ping:
            return
        transport = self.transport
        if transport is not None:
            if not transport.is_closing():  # the service task may have closed the session already, not the socket
                self.pong_missed = True
                transport.abort()  # a half-open TCP connection would otherwise keep the read loop waiting
        elif not self.upgraded and not self.closed and not self.closing:  # polling: ends now, as Node's does
            reason = self.server.reason.PING_TIMEOUT
            self.server.start_background_task(self.close, wait=False, abort=True, reason=reason)

    def push(self, pkt: eio_packet.Packet, frame: bytes | None = None) -> None:
        """Send ``pkt`` if nothing is pending on this socket (batched to the end of the pass), else queue it."""
        transport = self.transport
        if (
            self.direct
            and not self.pending
            and transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size() + self.server.frames.batched_bytes(self) < DIRECT_WRITE_MAX_BUFFERED
        ):
            self.server.frames.add(self, frame if frame is not None else ws_frame(pkt.encode()))
            return
        self.queue.put_nowait(pkt)
        if self._ws is None:
            return  # polling, or upgrading: a GET request or the WebSocket handler drains the queue
        self.pending += 1
        if self.pending > self.server.send_backlog:
            if self.transport is not None:  # once: the transport is forgotten when dropped
                self._drop_slow_reader()
        elif self.writer_task is None:
            self.writer_task = asyncio.ensure_future(self._write_queued(self._ws))

    def write_frames(self, frames: list[bytes]) -> None:
        """Write ``frames`` to the connection in one call, unless it is gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if len(frames) == 1:
            transport.write(frames[0])
        else:
            transport.writelines(frames)

    def write_batched(self) -> None:
        """Write the frames batched for this socket now, before anything else is written to its connection."""
        frames = self.server.frames.take(self)
        if frames:
            self.write_frames(frames)

    async def send(self, pkt: eio_packet.Packet) -> None:
        """Send a packet (replaces ``engineio.async_socket.AsyncSocket.send``): direct when idle, else queued."""
        if await self.check_ping_timeout():
            self.push(pkt)

    async def close_websocket(self, within: float) -> None:
        """Close the WebSocket itself once what is queued is written (the CLOSE packet last).

        (Upstream's writer does this when it reads ``None`` off the queue; ours exists only while it has work.)
        socket.io-client acts on an Engine.IO CLOSE only over polling: over WebSocket it needs the close itself.
        """
        writer, ws = self.writer_task, self._ws
        if writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), within)
        self.write_batched()
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    def _drop_slow_reader(self) -> None:
        """Abort the connection of a client whose backlog passed ``send_backlog``; the read loop then ends it."""
        log.warning("event=send_backlog sid=%s pending=%d code=dropped", self.sid, self.pending)
        self.direct = False
        self.server.frames.take(self)  # dropped with the connection
        transport, self.transport = self.transport, None
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def _write_queued(self, ws: Any) -> None:
        """Write queued packets in order until none is pending (the writer exists only while it has work)."""
        try:
            self.write_batched()  # frames batched before the first packet was queued go first
            while True:
                pkt = await self.queue.get()  # no idle timeout: see the module docstring
                self.queue.task_done()
                if pkt is None:
                    break
                await ws.send(pkt.encode())
                self.pending -= 1
                if not self.pending and self.queue.empty():
                    self._queue = None  # drained: an idle socket keeps no queue
                    break
        except Exception:  # the connection broke: the read loop sees it and ends the socket
            self.direct = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.abort()
        finally:
            self.writer_task = None

    def _go_live(self, ws: Any) -> None:
        """Route sends over the now-live WebSocket ``ws``: what is already queued first, via the writer."""
        resp = ws._sock
        if self._queue is not None:  # a NOOP left to end a poll means nothing on a WebSocket: don't send it
            waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            for pkt in waiting:
                self._queue.task_done()
                if pkt is None or pkt.packet_type != eio_packet.NOOP:
                    self._queue.put_nowait(pkt)
        self.pending = self._queue.qsize() if self._queue is not None else 0
        self._ws = ws
        self.transport = resp._writer.transport if resp._writer is not None else None
        self.direct = self.transport is not None and not resp.compress
        if self.pending and self.writer_task is None:
            self.writer_task = asyncio.ensure_future(self._write_queued(ws))

    async def _websocket_handler(self, ws: Any) -> Any:
        """Serve the WebSocket transport (replaces ``engineio.async_socket.AsyncSocket._websocket_handler``).

        The same upgrade handshake; then reads without a task and ``wait_for`` per message, and writes
        through ``push`` and an on-demand writer instead of an always-running one with an idle timeout.
        """
        resp = ws._sock
        timeout = self.server.ping_interval + self.server.ping_timeout
        if self.connected:  # an upgrade from polling
            self.upgrading = True  # hold packet sends during the upgrade
            data = await self._read(resp, timeout)
            pkt = eio_packet.Packet(encoded_packet=data) if data is not None else None
            if pkt is None or pkt.packet_type != eio_packet.PING or pkt.data != "probe":
                self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end the pending poll
            data = await self._read(resp, timeout)
            pkt = eio_packet.Packet(encoded_packet=data) if data is not None else None
            if pkt is None or pkt.packet_type != eio_packet.UPGRADE:
                self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet", self.sid)
                self.upgrading = False
                return
            self.upgraded = True
            self._go_live(ws)
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True
            self._go_live(ws)
        try:
            while True:  # no read timeout: the pong deadline (``_pong_overdue``) ends a silent client
                try:
                    data = (await resp.receive()).data
                except Exception:
                    break
                if not isinstance(data, str | bytes):
                    break
                try:
                    pkt = eio_packet.Packet(encoded_packet=data)
                except ValueError:  # not an Engine.IO packet: the connection ends, as with Node's engine.io
                    log.info("event=(malformed) sid=%s code=invalid_payload reason=not_an_engine_io_packet", self.sid)
                    break
                del data  # an idle connection keeps neither its last message nor its packet (~100 B)
                try:
                    await self.receive(pkt)
                except engineio.exceptions.UnknownPacketError:
                    pass
                except engineio.exceptions.SocketIsClosedError:
                    break
                except Exception:
                    self.server.logger.exception("Unknown receive error")
                del pkt
                if self.closed:  # the client sent CLOSE: end the WebSocket too, as Node's engine.io does
                    break
        finally:
            self.write_batched()
            self.direct = False
            if self._ping_timer is not None:
                self._ping_timer.cancel()
            writer = self.writer_task
            if writer is not None:
                self.queue.put_nowait(None)  # let the writer finish what is queued, then stop
                await asyncio.wait([writer])
            self._ws = None
            self.transport = None
            await ws.close()
            reason = self.server.reason.PING_TIMEOUT if self.pong_missed else self.server.reason.TRANSPORT_CLOSE
            await self.close(wait=False, abort=True, reason=reason)

    async def _read(self, resp: Any, silence: float) -> str | bytes | None:
        """Return the next message, or None once the connection closed, failed or stayed silent ``silence`` s."""
        try:
            msg = await resp.receive(silence)
        except Exception:
            return None
        data = msg.data
        if not isinstance(data, str | bytes):
            return None
        return data
