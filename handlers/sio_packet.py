"""Socket.IO packets serialised once: orjson both proves a payload holds no binary value and encodes it.

python-socketio's ``Packet`` walks every value of a packet's data in Python (``data_is_binary``, with a
``functools.reduce`` and a list per level) before it encodes it, then serialises the data again in
``encode``. An ack with 15 tickets, or a push with a ticket, is hundreds of values walked for nothing:
Deskline never sends binary values. ``DesklinePacket`` serialises the data once when the packet is made;
orjson refuses ``bytes``, so a payload it accepts has no binary part, and ``encode`` reuses those bytes. A
payload orjson refuses (a binary value, a type it does not know) takes upstream's path unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from socketio import packet

_OPTIONS = orjson.OPT_NON_STR_KEYS  # handlers.codec's options: the same bytes as the json module socketio calls


class MalformedPacket(ValueError):
    """What a client sent is not a Socket.IO packet (an unknown type, an unreadable ack id or namespace)."""


class DesklinePacket(packet.Packet):
    """A Socket.IO packet whose data is serialised once, when the packet is made (binary data: upstream's way)."""

    def __init__(
        self,
        packet_type: int = packet.EVENT,
        data: Any = None,
        namespace: str | None = None,
        id: int | None = None,
        binary: bool | None = None,
        encoded_packet: Any = None,
    ) -> None:
        self.serialised: str | None = None
        if data is not None and binary is None and encoded_packet is None:
            try:
                self.serialised = orjson.dumps(data, option=_OPTIONS).decode()
                binary = False  # orjson takes no bytes: nothing to scan for
            except orjson.JSONEncodeError:
                pass  # binary values (or an unknown type): upstream scans and encodes
        try:
            super().__init__(packet_type, data, namespace, id, binary, encoded_packet)
        except json.JSONDecodeError:  # readable framing, unreadable JSON (orjson's error subclasses it)
            raise
        except ValueError as exc:
            if encoded_packet is None:
                raise
            raise MalformedPacket(str(exc)) from None

    def encode(self) -> Any:
        """Encode the packet (``Packet.encode``), reusing the data serialised when it was made."""
        if self.serialised is None or self.packet_type not in (packet.EVENT, packet.ACK):
            return super().encode()
        head = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            head += self.namespace + ","
        if self.id is not None:
            head += str(self.id)
        return head + self.serialised
