"""Public chat, driven exactly as a Dowell Chat V2 frontend drives it."""

from __future__ import annotations

import asyncio

from models.chat import MY_RESPONSE, ChatResponse
from models.rooms import user_room
from tests.helpers import RunningServer

MESSAGE = {"type": "chat", "room_id": "lobby", "side": "client", "author": "ana", "message_type": "text"}


async def test_connect_greets_every_socket(server: RunningServer) -> None:
    client = await server.client()
    welcome = await client.inbox.wait_for("my_response")
    assert welcome == {"data": "Welcome to Dowell Chat", "count": 0}


async def test_three_clients_join_talk_and_leave(server: RunningServer) -> None:
    a, b, c = [await server.client() for _ in range(3)]
    await a.emit("join", {"room": "lobby"})
    await a.inbox.wait_for("my_response", lambda m: m == {"data": "Hey how may i help you"})

    await b.emit("join", {"room": "lobby"})
    joined = await a.inbox.wait_for("my_response", lambda m: m.get("data") == f"{b.sid} Joined the Room")
    assert joined == {"data": f"{b.sid} Joined the Room"}
    await b.inbox.wait_for("my_response", lambda m: m == {"data": "Hey how may i help you"})

    await a.emit("message_event", {**MESSAGE, "message_data": "hello"})
    for client in (a, b):
        got = await client.inbox.wait_for("my_response", lambda m: m.get("data") == "hello")
        assert got == {"data": "hello", "sid": a.sid}
    await b.emit("message_event", {**MESSAGE, "message_data": "hi ana"})
    await a.inbox.wait_for("my_response", lambda m: m.get("data") == "hi ana")

    await c.emit("join", {"room": "lobby"})
    history = [m for m in await c.inbox.wait_count("my_response", 3) if "sid" in m]
    await asyncio.sleep(0.2)
    history = [m for m in c.inbox.of("my_response") if "sid" in m]
    assert history == [{"data": "hello", "sid": a.sid}, {"data": "hi ana", "sid": b.sid}]
    assert {"data": "Hey how may i help you"} not in c.inbox.of("my_response")

    await b.emit("leave", {"room": "lobby"})
    await a.inbox.wait_for("my_response", lambda m: m == {"data": "Left room: lobby"})
    await c.emit("message_event", {**MESSAGE, "message_data": "after leave"})
    await a.inbox.wait_for("my_response", lambda m: m.get("data") == "after leave")
    await asyncio.sleep(0.2)
    assert not any(m.get("data") == "after leave" for m in b.inbox.of("my_response"))


async def test_messages_stay_in_their_room(server: RunningServer) -> None:
    a, b = await server.client(), await server.client()
    await a.ok("join", {"room": "one"})
    await b.ok("join", {"room": "two"})
    await a.ok("message_event", {**MESSAGE, "room_id": "one", "message_data": "only one"})
    await asyncio.sleep(0.2)
    assert not any(m.get("data") == "only one" for m in b.inbox.of("my_response"))


async def test_invalid_message_tells_only_the_sender(server: RunningServer) -> None:
    a, b = await server.client(), await server.client()
    await a.ok("join", {"room": "lobby"})
    await b.ok("join", {"room": "lobby"})
    bad_payloads = [
        {**MESSAGE, "message_data": "   "},
        {**MESSAGE, "message_data": 42},
        {key: value for key, value in {**MESSAGE, "message_data": "x"}.items() if key != "author"},
        "not an object",
        None,
        [1, 2],
    ]
    for bad in bad_payloads:
        before = len(a.inbox.of("my_response"))
        ack = await a.call("message_event", bad)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload", ack
        await a.inbox.wait_count("my_response", before + 1)
        assert a.inbox.of("my_response")[-1] == {"data": "Invalid Data"}
    await asyncio.sleep(0.2)
    assert {"data": "Invalid Data"} not in b.inbox.of("my_response")
    assert await a.ok("message_event", {**MESSAGE, "message_data": "still alive"})


async def test_join_rejects_blank_room(server: RunningServer) -> None:
    a = await server.client()
    for bad in ({"room": ""}, {"room": 5}, {}, "lobby"):
        await a.error("join", bad, "invalid_payload")


async def test_public_rooms_cannot_reach_private_rooms(server: RunningServer) -> None:
    from tests.conftest import signed_in

    victim, info = await signed_in(server)
    snoop = await server.client()
    await snoop.ok("join", {"room": f"user:{info['user']['id']}"})
    secret = ChatResponse(data="secret")
    await server.deps.emitter.push(MY_RESPONSE, secret, to=user_room(info["user"]["id"]))
    await victim.inbox.wait_for("my_response", lambda m: m.get("data") == "secret")
    await asyncio.sleep(0.1)
    assert [m for m in snoop.inbox.of("my_response") if m.get("data") == "secret"] == []


async def test_oversized_message_is_refused(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", max_payload_bytes=2000)
    a = await srv.client()
    await a.error("message_event", {**MESSAGE, "message_data": "x" * 3000}, "payload_too_large")
    assert a.inbox.of("my_response")[-1] == {"data": "Invalid Data"} or await a.inbox.wait_for(
        "my_response", lambda m: m == {"data": "Invalid Data"}
    )
    assert await a.ok("message_event", {**MESSAGE, "message_data": "small"})


async def test_history_survives_restart_on_both_backends(start_server, settings_for, backend: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(backend)
    first = await start_server(settings=settings)
    a = await first.client()
    await a.ok("join", {"room": "persist"})
    for text in ("one", "two", "three"):
        await a.ok("message_event", {**MESSAGE, "room_id": "persist", "message_data": text})
    await first.stop()

    second = await start_server(settings=settings)
    b = await second.client()
    await b.ok("join", {"room": "persist"})
    pushes = await b.inbox.wait_count("my_response", 4)
    assert [m["data"] for m in pushes if "sid" in m] == ["one", "two", "three"]
