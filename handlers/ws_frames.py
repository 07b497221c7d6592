"""Server-to-client WebSocket frames: made once per packet, and batched per socket until the end of the loop's pass.

A frame written to an idle WebSocket is batched until the end of the event loop's current pass, so the frames
one socket gets in that pass (the acks of the events a client sent together, the notices of a join storm)
leave in one system call instead of one each: on loopback a send also does the receiving side's TCP work, so
that call was the server's largest single cost per acked event. Anything else that writes to the connection
(the socket's writer task, closing it) first writes what the socket has batched, so order still holds.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Protocol

log = logging.getLogger("deskline.socket")

_TEXT = 0x81  # FIN + text opcode
_BINARY = 0x82


def ws_frame(data: str | bytes) -> bytes:
    """Return one unmasked (server-to-client) WebSocket frame holding ``data``."""
    if isinstance(data, str):
        payload, first = data.encode(), _TEXT
    else:
        payload, first = bytes(data), _BINARY
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


class FrameWriter(Protocol):
    """A socket that can write frames to its connection."""

    sid: str

    def write_frames(self, frames: list[bytes]) -> None:
        """Write ``frames`` in one call, unless the connection is gone."""


class FrameBatch:
    """Frames for idle WebSockets, batched during one pass of the event loop and sent at its end, one write a socket.

    Each socket's frames keep their order; a socket writes its batched frames itself (``write_batched``) before
    it writes anything else to its connection.
    """

    def __init__(self) -> None:
        self._frames: dict[FrameWriter, list[bytes]] = {}
        self._sizes: dict[FrameWriter, int] = {}
        self._flush_due = False

    def batched_bytes(self, sock: FrameWriter) -> int:
        """Return how many bytes ``sock`` has batched for the end of this pass."""
        return self._sizes.get(sock, 0)

    def add(self, sock: FrameWriter, frame: bytes) -> None:
        """Batch ``frame`` for ``sock`` until the end of this pass of the loop."""
        frames = self._frames.get(sock)
        if frames is not None:
            frames.append(frame)
            self._sizes[sock] += len(frame)
            return
        self._frames[sock] = [frame]
        self._sizes[sock] = len(frame)
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def take(self, sock: FrameWriter) -> list[bytes] | None:
        """Return (and forget) the frames batched for ``sock``, if any."""
        self._sizes.pop(sock, None)
        return self._frames.pop(sock, None)

    def flush(self) -> None:
        """Write every socket's batched frames."""
        self._flush_due = False
        batches, self._frames, self._sizes = self._frames, {}, {}
        for sock, frames in batches.items():
            try:
                sock.write_frames(frames)
            except Exception:  # one broken connection must not cost the others their frames
                log.exception("event=write_failed sid=%s code=internal", sock.sid)
