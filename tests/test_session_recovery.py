"""Connection-state recovery with the unmodified JS client (socket.io-client, pinned in tests/js): a dropped
socket comes back as itself (``socket.recovered``), with its rooms and every event it missed, once and in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from models.rooms import user_room
from server import SIO_KEY
from tests.conftest import signed_in
from tests.helpers import ManualClock, RunningServer
from tests.recovery_kit import JsClients, chat_lines, chat_message, js, offsets_of, say
from tests.security.test_widget_token import opened, site_of

__all__ = ["js"]  # fixture

ROOM = "lobby"


async def joined(js: JsClients, name: str, server: RunningServer) -> dict[str, Any]:
    """Open JS socket ``name`` on ``server`` and put it in the public chat room; return its connected line."""
    connected = await js.open(name, server.url)
    assert connected["recovered"] is False
    ack = await js.call(name, "join", {"room": ROOM})
    assert ack["error"] is None, ack
    return connected


async def test_a_dropped_socket_is_recovered_with_its_rooms_and_every_missed_event_once(
    any_server: RunningServer, js: JsClients
) -> None:
    server = any_server  # SQLite, then MongoDB
    first = await joined(js, "a", server)
    writer = await server.client()
    await writer.call("join", {"room": ROOM})
    for n in range(3):
        await say(writer, ROOM, f"m{n}")
    await js.seen_until("a", lambda ev: "m2" in chat_lines(ev, writer.sid))

    await js.send(drop="a")
    for n in range(3, 8):  # while the socket is away (the first may still go to the dying transport)
        await say(writer, ROOM, f"m{n}")
    back = await js.reconnect("a")
    assert back["recovered"] is True
    assert back["id"] == first["id"]  # the same sid: rooms, presence and sessions still name it
    for n in range(8, 10):
        await say(writer, ROOM, f"m{n}")

    events = await js.seen_until("a", lambda ev: "m9" in chat_lines(ev, writer.sid))
    assert chat_lines(events, writer.sid) == [f"m{n}" for n in range(10)]
    offsets = [int(o) for o in offsets_of(events)]
    assert offsets == sorted(set(offsets))  # every event carries a distinct, increasing offset


async def test_a_signed_in_socket_is_recovered_with_its_user_room_after_its_token_is_checked_again(
    server: RunningServer, js: JsClients
) -> None:
    _, me = await signed_in(server, "agent")
    first = await js.open("console", server.url, auth={"token": me["access_token"]})
    await js.seen_until("console", lambda ev: any(e[0] == "my_response" for e in ev))  # the greeting
    sio = server.app[SIO_KEY]

    await js.send(drop="console")
    await sio.emit("agent_note", {"n": 1}, to=user_room(me["user"]["id"]))  # while the console is away
    back = await js.reconnect("console")
    assert back["recovered"] is True and back["id"] == first["id"]
    await sio.emit("agent_note", {"n": 2}, to=user_room(me["user"]["id"]))
    events = await js.seen_until("console", lambda ev: sum(e[0] == "agent_note" for e in ev) >= 2)
    assert [e[1] for e in events if e[0] == "agent_note"] == [{"n": 1}, {"n": 2}], events
    offsets = offsets_of(events)
    assert len(offsets) == len(set(offsets)), events  # nothing delivered twice: live and again in the replay
    greetings = [e for e in events if e[0] == "my_response"]
    assert len(greetings) == 2, events  # one per connect: the recovered one's is not replayed a second time


async def test_a_session_that_received_nothing_yet_is_recovered_too(server: RunningServer, js: JsClients) -> None:
    site = await site_of(server)
    tab, answer = await opened(site, "hello")  # the visitor's first tab opens the conversation
    ticket = answer["ticket"]["_id"]
    auth = {"widget_token": site.token, "visitor_secret": answer["visitor_secret"]}
    await js.open("phone", server.url, auth=auth)  # the same visitor on a phone: in the visitor's rooms
    await asyncio.sleep(0.3)
    assert await js.seen("phone") == []  # zero events so far

    await js.send(drop="phone")
    await tab.ok("widget_send", {"ticket_id": ticket, "message_data": "sent while the phone was away"})
    back = await js.reconnect("phone")
    assert back["recovered"] is True
    await tab.ok("widget_send", {"ticket_id": ticket, "message_data": "sent after"})

    def texts(events: list[list[Any]]) -> list[str]:
        return [e[1]["message_data"] for e in events if e[0] == "widget_message"]

    events = await js.seen_until("phone", lambda ev: "sent after" in texts(ev))
    assert texts(events) == ["sent while the phone was away", "sent after"]


async def test_past_the_window_the_client_gets_a_fresh_session(
    start_server: Any, clock: ManualClock, js: JsClients
) -> None:
    server = await start_server("sqlite", clock=clock, recovery_window_seconds=120)
    first = await joined(js, "a", server)
    writer = await server.client()
    await writer.call("join", {"room": ROOM})
    await say(writer, ROOM, "before")
    await js.seen_until("a", lambda ev: "before" in chat_lines(ev, writer.sid))

    await js.send(drop="a")
    await say(writer, ROOM, "missed")
    await asyncio.sleep(0.5)  # the server saw the drop and kept the session
    clock.advance(seconds=121)
    back = await js.reconnect("a")
    assert back["recovered"] is False
    assert back["id"] != first["id"]
    await say(writer, ROOM, "after")  # a fresh session is in no room and was replayed nothing
    await asyncio.sleep(0.5)
    assert chat_lines(await js.seen("a"), writer.sid) == ["before"]

    await js.call("a", "join", {"room": ROOM})  # the catch-up: joining again replays the room's history
    await say(writer, ROOM, "joined again")
    events = await js.seen_until("a", lambda ev: "joined again" in chat_lines(ev, writer.sid))
    assert chat_lines(events, writer.sid) == ["before", "before", "missed", "after", "joined again"]


async def test_a_retried_event_with_the_same_key_is_applied_once(server: RunningServer, js: JsClients) -> None:
    await js.open("a", server.url, retries=3)
    await js.call("a", "join", {"room": ROOM})
    watcher = await server.client()
    await watcher.call("join", {"room": ROOM})

    async def lose_ack_then_retry(text: str, key: str | None) -> dict[str, Any]:
        await js.send(lose_next_ack="a")
        ref = await js.start_call("a", "message_event", chat_message(ROOM, text), key)
        await watcher.inbox.wait_for("my_response", lambda m: m.get("data") == text)  # the first try ran
        await js.driver.next("disconnected", disconnected="a")  # and its ack was lost with the connection
        back = await js.reconnect("a")  # socket.io-client resends its unacknowledged packet (a new ack id)
        assert back["recovered"] is True
        return await js.driver.next("acked", acked=ref)

    keyed = await lose_ack_then_retry("keyed", "send-1")
    assert keyed["error"] is None and keyed["ack"] is not None
    plain = await lose_ack_then_retry("plain", None)  # the same without a key: the retry runs again
    assert plain["error"] is None

    await say(watcher, ROOM, "marker")  # everything written before it has reached the watcher
    await watcher.inbox.wait_for("my_response", lambda m: m.get("data") == "marker")
    texts = [m.get("data") for m in watcher.inbox.of("my_response")]
    assert texts.count("keyed") == 1
    assert texts.count("plain") == 2


async def test_a_push_to_one_socket_is_kept_only_when_that_socket_can_be_recovered(
    server: RunningServer, js: JsClients
) -> None:
    sio = server.app[SIO_KEY]
    kept = sio.recovery.last_offset
    plain = await server.client()  # not opted in: its greeting and its own pushes can never be replayed
    before = await kept()
    await sio.emit("agent_note", {"n": 1}, to=plain.sid)
    await plain.inbox.wait_for("agent_note")
    assert await kept() == before

    opted = await js.open("a", server.url)  # opted in: its greeting is kept, and so is a push to it alone
    await js.seen_until("a", lambda ev: any(e[0] == "my_response" for e in ev))
    greeted = await kept()
    assert greeted > before
    await sio.emit("agent_note", {"n": 2}, to=opted["id"])
    events = await js.seen_until("a", lambda ev: any(e[0] == "agent_note" for e in ev))
    assert await kept() > greeted
    assert [e for e in events if e[0] == "agent_note"] == [["agent_note", {"n": 2}, str(await kept())]]


async def test_a_room_broadcast_is_kept_only_while_a_socket_could_ask_for_it_back(
    server: RunningServer, js: JsClients
) -> None:
    """One process without Redis knows every session: a chat line to a room where no socket asked for recovery,
    and no kept session was, is delivered but not persisted; once a socket that asked is in the room, and while
    its session is kept after it dropped, every line is."""
    sio = server.app[SIO_KEY]
    kept = sio.recovery.last_offset
    writer, reader = await server.client(), await server.client()
    for client in (writer, reader):
        await client.call("join", {"room": ROOM})
    before = await kept()
    await say(writer, ROOM, "nobody can ask for this back")
    await reader.inbox.wait_for("my_response", lambda data: data.get("data") == "nobody can ask for this back")
    assert await kept() == before

    await joined(js, "a", server)  # asked for recovery, in the room
    greeted = await kept()
    await say(writer, ROOM, "a may ask for this back")
    events = await js.seen_until("a", lambda ev: "a may ask for this back" in chat_lines(ev, writer.sid))
    assert await kept() > greeted
    assert offsets_of(events)[-1] == str(await kept())

    await js.send(drop="a")  # its transport breaks: its session is kept for the window
    while_away = await kept()
    await say(writer, ROOM, "while it was away")
    assert await kept() > while_away
    back = await js.reconnect("a")
    assert back["recovered"] is True
    events = await js.seen_until("a", lambda ev: "while it was away" in chat_lines(ev, writer.sid))
    assert chat_lines(events, writer.sid).count("while it was away") == 1
    for client in (writer, reader):
        await client.close()
