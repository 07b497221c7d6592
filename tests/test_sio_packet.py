"""Packets serialised once (handlers/sio_packet.py): the same bytes as python-socketio's own packets, binary
values still sent as binary attachments, with a real server and a real client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from socketio import packet

from handlers import codec
from handlers.sio_packet import DesklinePacket, MalformedPacket
from models.rooms import chat_room
from server import SIO_KEY
from tests.helpers import RunningServer


class UpstreamPacket(packet.Packet):
    """python-socketio's packet with Deskline's json module, to compare encodings."""

    json = codec


CASES: list[dict[str, Any]] = [
    {"packet_type": packet.ACK, "id": 12, "data": [{"ok": True, "data": {"tickets": [{"id": "t", "n": 1.5}] * 15}}]},
    {"packet_type": packet.ACK, "id": 3, "data": [{"ok": False, "error": {"code": "forbidden", "details": None}}]},
    {"packet_type": packet.EVENT, "data": ["my_response", {"data": "héllo \u2028 ✓", "count": 0}]},
    {"packet_type": packet.EVENT, "namespace": "/other", "id": 5, "data": ["e", {1: "non-string key"}]},
    {"packet_type": packet.EVENT, "data": ["blob", {"file": b"\x00\x01binary"}]},
    {"packet_type": packet.ACK, "id": 1, "data": [b"raw", "text"]},
    {"packet_type": packet.CONNECT, "data": {"sid": "abc"}},
    {"packet_type": packet.EVENT, "data": ["empty"]},
]


@pytest.mark.parametrize("case", CASES)
def test_a_packet_encodes_to_the_same_bytes_as_upstream(case: dict[str, Any]) -> None:
    ours, theirs = DesklinePacket(**case), UpstreamPacket(**case)
    assert ours.packet_type == theirs.packet_type  # binary data still makes a BINARY_EVENT / BINARY_ACK
    assert ours.encode() == theirs.encode()


def test_json_data_is_serialised_once_and_binary_data_not_at_all() -> None:
    assert DesklinePacket(packet.EVENT, ["e", {"a": 1}]).serialised == '["e",{"a":1}]'
    assert DesklinePacket(packet.EVENT, ["e", {"a": b"x"}]).serialised is None
    assert DesklinePacket(encoded_packet='42["e",1]').data == ["e", 1]  # decoding is upstream's


async def test_a_binary_push_still_reaches_a_client_as_bytes(server: RunningServer) -> None:
    assert server.app[SIO_KEY].packet_class is DesklinePacket
    client = await server.client()
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.sio.on("blob", lambda data: got.set_result(data))
    await server.app[SIO_KEY].emit("blob", {"file": b"\x00\x01binary", "name": "x"}, to=client.sid)
    assert await asyncio.wait_for(got, 10) == {"file": b"\x00\x01binary", "name": "x"}
    await client.call("join", {"room": "blobs"})  # to a room: recovery keeps JSON broadcasts, binary ones go as is
    before = await server.app[SIO_KEY].recovery.last_offset()
    await server.app[SIO_KEY].emit("blobs", [b"\x02", "room"], to=chat_room("blobs"))
    assert (await client.inbox.wait_for("blobs")) == [b"\x02", "room"]
    assert await server.app[SIO_KEY].recovery.last_offset() == before
    await client.error("no_such_event", {"n": "ü"}, "unknown_event")  # JSON acks as before


def test_a_packet_that_is_not_socket_io_is_malformed_and_unreadable_json_is_not() -> None:
    """The first closes its connection (as Node does); the second keeps it and is answered ``invalid_payload``."""
    for not_socket_io in ("abc", "x[1]", "-1"):
        with pytest.raises(MalformedPacket):
            DesklinePacket(encoded_packet=not_socket_io)
    with pytest.raises(json.JSONDecodeError) as raised:
        DesklinePacket(encoded_packet='2abc["message",1]')  # an ack id that is not a number: unreadable JSON
    assert not isinstance(raised.value, MalformedPacket)
    assert DesklinePacket(encoded_packet='2["message",1]').data == ["message", 1]
