"""What a connected socket keeps of its handshake (handlers/sio_handshake.py) and how a silent client is ended
without a read timeout (the pong deadline in handlers/sio_engine.py), with real servers and clients."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import socketio

from handlers.sio_handshake import FORWARDED_FOR, ORIGIN, REMOTE_ADDR
from server import SIO_KEY
from tests.helpers import Client, Inbox, RunningServer

HEADERS = {
    "Origin": "https://shop.example.com",
    "X-Forwarded-For": "198.51.100.7",
    "Authorization": "Bearer not-kept",
    "Cookie": "session=not-kept",
    "User-Agent": "handshake-test",
}


async def connect_with_headers(server: RunningServer, transport: str) -> Client:
    """Connect a real client over ``transport`` sending ``HEADERS`` with its handshake."""
    sio = socketio.AsyncClient(reconnection=False)
    inbox = Inbox()
    sio.on("*", inbox.record)
    await sio.connect(server.url, headers=HEADERS, transports=[transport], wait_timeout=10)
    client = Client(sio, inbox)
    server.clients.append(client)
    return client


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_socket_keeps_only_the_environ_keys_its_connect_reads(start_server: Any, transport: str) -> None:
    server = await start_server("sqlite", trusted_proxies="127.0.0.0/8")
    sio = server.app[SIO_KEY]
    # a polling client's disconnect waits for its pending long poll: keep that short
    sio.eio.ping_interval, sio.eio.ping_timeout = 1, 5
    client = await connect_with_headers(server, transport)
    environ = sio.get_environ(client.sid)
    assert environ == {REMOTE_ADDR: "127.0.0.1", ORIGIN: HEADERS["Origin"], FORWARDED_FOR: "198.51.100.7"}
    # what connect derived from it: the address behind the trusted proxy
    assert (await sio.get_session(client.sid))["address"] == "198.51.100.7"
    await client.error("no_such_event", {}, "unknown_event")  # events are dispatched and acked as before


async def test_a_forwarded_for_header_from_an_untrusted_peer_is_kept_but_not_believed(server: RunningServer) -> None:
    client = await connect_with_headers(server, "websocket")
    sio = server.app[SIO_KEY]
    assert sio.get_environ(client.sid)[FORWARDED_FOR] == "198.51.100.7"
    assert (await sio.get_session(client.sid))["address"] == "127.0.0.1"


async def test_a_client_that_stops_answering_pings_is_ended_and_its_connection_closed(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    sio.eio.ping_interval, sio.eio.ping_timeout = 1, 1
    gone: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket")
            assert (await ws.receive(timeout=10)).data.startswith("0")
            await ws.send_str("40")
            pings = 0
            async with asyncio.timeout(30):  # the server pings, waits ping_timeout (+1 s), then closes the TCP side
                while True:
                    message = await ws.receive()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        gone.append(str(message.type))
                        break
                    pings += message.data == "2"  # never answered
            assert pings == 1
            assert ws.closed
        for _ in range(100):
            if not sio.eio.sockets:
                break
            await asyncio.sleep(0.05)
        assert not sio.eio.sockets
    finally:
        sio.eio.ping_interval, sio.eio.ping_timeout = 25, 20
    assert gone


async def test_a_client_that_answers_pings_stays_past_many_pong_deadlines(server: RunningServer) -> None:
    sio = server.app[SIO_KEY]
    sio.eio.ping_interval, sio.eio.ping_timeout = 1, 1
    try:
        client = await server.client()
        await asyncio.sleep(5)  # about four ping rounds, each with its pong deadline
        assert client.sio.connected
        assert len(sio.eio.sockets) == 1
        await client.error("no_such_event", {}, "unknown_event")
    finally:
        sio.eio.ping_interval, sio.eio.ping_timeout = 25, 20
