"""HTTP long-polling answered as Node's engine.io answers it (socket.io's conformance suite).

python-engineio differs from Node's engine.io in three places that socket.io's own conformance suite checks
(``tests/conformance``); ``NodePollingRules`` is mixed into ``handlers.sio_engine.DesklineSocket``:

- a POST whose body is not an Engine.IO payload was logged and answered 200, the session kept: now 400, and
  the session ends;
- a second GET while one waits (two pollers on one session) was served beside the first: now the session
  ends, the waiting GET gets the CLOSE packet and the second 400;
- a poll waiting when the client closes the session waited out ``ping_interval + ping_timeout``: now it is
  answered a NOOP at once;

A POST may also carry up to ``MAX_POSTED_PACKETS`` packets (upstream: 16, and it dropped a longer batch
while answering 200; socket.io-client sends its whole buffer in one POST). Its size stays bounded by
``max_http_buffer_size``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from engineio import exceptions, payload
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

MAX_POSTED_PACKETS = 1000


class _PostedPayload(payload.Payload):
    """An Engine.IO payload read from a POST, allowed up to ``MAX_POSTED_PACKETS`` packets."""

    max_decode_packets = MAX_POSTED_PACKETS


class InvalidPayloadError(exceptions.EngineIOError):
    """A POST's body is not an Engine.IO payload: the request gets 400 and the session ends."""


class NodePollingRules(AsyncSocket):
    """The long-polling answers of Node's engine.io, for ``DesklineSocket``."""

    _polls = 0  # GET requests waiting for packets on this session now

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        """Receive a POSTed payload (replaces ``AsyncSocket.handle_post_request``); a malformed one ends the session."""
        length = int(environ.get("CONTENT_LENGTH", "0"))
        if length > self.server.max_http_buffer_size:
            raise exceptions.ContentTooLongError()
        body = await environ["wsgi.input"].read(length)
        try:
            packets = _PostedPayload(encoded_payload=body.decode("utf-8")).packets
        except ValueError as exc:  # UnicodeDecodeError included
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
            raise InvalidPayloadError(str(exc)) from None
        for pkt in packets:
            await self.receive(pkt)

    def handle_get_request(self, environ: dict[str, Any]) -> Awaitable[Any]:
        """Serve a poll or an upgrade (``AsyncSocket.handle_get_request``); a second poll at once ends the session.

        Not a coroutine itself: an upgrade returns upstream's coroutine for the caller to await, so no frame of
        this method stays on the stack of a WebSocket for as long as it is open.
        """
        if asks_upgrade(environ, self.upgrade_protocols):
            return super().handle_get_request(environ)  # type: ignore[no-any-return]
        return self._poll(environ)

    async def _poll(self, environ: dict[str, Any]) -> Any:
        """Wait for packets to answer a poll; a second poll while one waits ends the session."""
        if self._polls:
            await self.close(wait=False, abort=False, reason=self.server.reason.TRANSPORT_ERROR)  # CLOSE to the first
            raise exceptions.EngineIOError("two polls at once on one session")
        self._polls += 1
        try:
            return await super().handle_get_request(environ)
        finally:
            self._polls -= 1

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close the session (``AsyncSocket.close``); a poll waiting on a closed polling session gets a NOOP now."""
        was_open = not self.closed and not self.closing
        await super().close(wait=wait, abort=abort, reason=reason)
        if was_open and abort and not self.upgraded and self._polls:
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))


def asks_upgrade(environ: dict[str, Any], protocols: list[str]) -> bool:
    """Whether a GET asks to upgrade the session's transport (as ``AsyncSocket.handle_get_request`` reads it)."""
    connections = [s.strip() for s in environ.get("HTTP_CONNECTION", "").lower().split(",")]
    return "upgrade" in connections and environ.get("HTTP_UPGRADE", "").lower() in protocols
