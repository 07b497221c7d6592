"""A Socket.IO client written by hand over one WebSocket: it sends packets no library would encode, and reads only
when told to (a slow reader)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson


class RawSocket:
    """One raw Engine.IO v4 / Socket.IO v5 connection to the default namespace."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        """Connect to ``url`` over WebSocket and join the default namespace."""
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        raw = cls(http, ws)
        assert (await raw.receive()).startswith("0")  # engine.io open
        await ws.send_str("40")
        while not (await raw.receive()).startswith("40"):  # the welcome push may come first
            pass
        return raw

    async def receive(self, timeout: float | None = 10) -> str:
        """Return the next text message, answering engine.io pings on the way; ``ConnectionError`` once closed."""
        while True:
            message = await self.ws.receive(timeout=timeout)
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {message.type}")
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
                    return orjson.loads(packet[len(f"43{ack_id}") :])[0]

    async def next_event(self, name: str) -> Any:
        """Return the data of the next ``name`` event, skipping other pushes."""
        while True:
            text = await self.receive(timeout=None)
            if text.startswith("42"):
                event = orjson.loads(text[2:])
                if event[0] == name:
                    return event[1]

    async def close(self) -> None:
        """Close the websocket and the session."""
        await self.ws.close()
        await self.http.close()
