"""Attack replays (issue 12 items 7-8): unknown events, unreadable payloads, event floods, upload floods."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.helpers import RunningServer

MESSAGE = {"type": "t", "room_id": "r", "message_data": "m", "side": "s", "author": "a", "message_type": "x"}


def nested(depth: int) -> str:
    """Return a JSON list nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


class RawSocket:
    """A Socket.IO client written by hand over a websocket, to send packets no library would encode."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        """Connect to the default namespace."""
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
        raw = cls(http, ws)
        assert (await raw.receive()).startswith("0")  # engine.io open
        await ws.send_str("40")
        while not (await raw.receive()).startswith("40"):  # the welcome push may come first
            pass
        return raw

    async def receive(self, timeout: float = 10) -> str:
        """Return the next Socket.IO packet (answering engine.io pings)."""
        while True:
            message = await self.ws.receive(timeout=timeout)
            assert message.type == aiohttp.WSMsgType.TEXT, message
            if message.data == "2":
                await self.ws.send_str("3")
                continue
            return str(message.data)

    async def ack_of(self, ack_id: int, timeout: float = 10) -> Any:
        """Return the data of the ack with ``ack_id``, skipping pushes."""
        async with asyncio.timeout(timeout):
            while True:
                packet = await self.receive()
                if packet.startswith(f"43{ack_id}["):
                    return json.loads(packet[len(f"43{ack_id}") :])[0]

    async def close(self) -> None:
        """Close the websocket and the session."""
        await self.ws.close()
        await self.http.close()


@pytest.fixture
async def raw_sockets() -> Any:
    """Factory of raw sockets, closed after the test."""
    opened: list[RawSocket] = []

    async def open_one(url: str) -> RawSocket:
        opened.append(await RawSocket.open(url))
        return opened[-1]

    yield open_one
    for raw in opened:
        await raw.close()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the log records that carry a traceback."""
    return [r for r in caplog.records if r.exc_info is not None]


# --- item 7: unknown events -------------------------------------------------------------------------------


async def test_unknown_event_with_an_ack_is_answered_unknown_event(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """On main the client waits forever: python-socketio drops an event no handler knows."""
    caplog.set_level(logging.DEBUG, logger="deskline.events")
    client = await server.client()
    ack = await client.call("no_such_event", {"x": 1}, timeout=5)
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
    assert ack["error"]["details"] == {"event": "no_such_event"}
    assert any(
        r.levelno == logging.DEBUG and "code=unknown_event" in r.getMessage() and "no_such_event" in r.getMessage()
        for r in caplog.records
    )
    assert (await client.call("no_payload_either"))["error"]["code"] == "unknown_event"
    await client.emit("no_such_event", {"x": 1})  # without an ack: nothing to answer, nothing breaks
    assert (await client.call("join", {"room": "r"}))["ok"] is True
    assert not tracebacks(caplog)


async def test_unknown_event_named_by_a_non_string_is_answered(server: RunningServer, raw_sockets: Any) -> None:
    raw = await raw_sockets(server.url)
    await raw.ws.send_str('427[{"an": "object"}, 1]')
    assert (await raw.ack_of(7))["error"]["code"] == "unknown_event"


# --- item 8: unreadable payloads --------------------------------------------------------------------------


async def test_binary_value_is_invalid_payload_without_traceback(
    any_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """On main orjson cannot serialise the bytes in the size check: ``internal`` and a traceback."""
    client = await any_server.client()
    error = await client.error("message_event", {**MESSAGE, "message_data": b"\x00\x01binary"}, "invalid_payload")
    assert error["details"] == {"reason": "binary"}
    error = await client.error("create_workspace", {"name": b"\xff"}, "invalid_payload")
    assert error["details"] == {"reason": "binary"}
    assert not tracebacks(caplog)
    assert (await client.call("message_event", MESSAGE))["ok"] is True


async def test_binary_value_to_a_dowell_event_gets_its_invalid_data_reply(server: RunningServer) -> None:
    client = await server.client()
    await client.error("join", {"room": b"\x00"}, "invalid_payload")
    assert await client.inbox.wait_for("my_response", lambda m: m == {"data": "Invalid Data"})


async def test_nesting_over_255_levels_is_invalid_payload(
    server: RunningServer, raw_sockets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """300 levels parse but orjson will not serialise them: ``internal`` and a traceback on main."""
    raw = await raw_sockets(server.url)
    await raw.ws.send_str(f'421["message_event",{{"message_data":{nested(300)}}}]')
    ack = await raw.ack_of(1)
    assert ack["error"]["code"] == "invalid_payload"
    assert ack["error"]["details"] == {"reason": "too_deep", "limit": 255}
    await raw.ws.send_str(f'422["join",{{"room":{nested(300)}}}]')
    assert (await raw.ack_of(2))["error"]["code"] == "invalid_payload"
    assert not tracebacks(caplog)


async def test_nesting_over_1024_levels_is_acked_invalid_payload(
    server: RunningServer, raw_sockets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """1100 levels fail to decode at all: on main no ack (the client waits forever) and a traceback."""
    caplog.set_level(logging.INFO, logger="deskline")
    raw = await raw_sockets(server.url)
    await raw.ws.send_str(f'4242["message_event",{{"message_data":{nested(1100)}}}]')
    ack = await raw.ack_of(42)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    await raw.ws.send_str(f'42["message_event",{nested(1100)}]')  # no ack asked: none sent, socket kept
    await raw.ws.send_str('4243["join",{"room":"after"}]')
    assert (await raw.ack_of(43))["ok"] is True
    assert not tracebacks(caplog)
    lines = [r.getMessage() for r in caplog.records if "code=invalid_payload" in r.getMessage()]
    assert len(lines) == 2 and all(len(line) < 200 for line in lines)


async def test_binary_value_to_a_dowell_support_event_gets_the_failure_envelope(server: RunningServer) -> None:
    from tests.test_support import admin_of, failure, keyed, new_workspace

    workspace, key = await new_workspace(await admin_of(server))
    client = await server.client()
    await client.error("create_topic", keyed(workspace, key, name=b"\x00"), "invalid_payload")
    assert await client.inbox.wait_for("setting_response") == failure("create_topic", "Invalid Data")
