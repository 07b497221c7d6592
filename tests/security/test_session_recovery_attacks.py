"""Attacks on connection-state recovery: a session id (``pid``) that leaked, used without the identity it belongs
to (anonymous, another visitor with the public widget token), and an account ended during the drop."""

from __future__ import annotations

import asyncio
from typing import Any

from models.rooms import user_room
from server import SIO_KEY
from tests.conftest import signed_in
from tests.helpers import Client, RunningServer, connect_client, refusal
from tests.security.test_widget_token import opened, site_of


def socket_of(server: RunningServer, sid: str) -> Any:
    """Return the server's Engine.IO socket of Socket.IO socket ``sid``."""
    sio = server.app[SIO_KEY]
    return sio.eio.sockets[sio.manager.eio_sid_from_sid(sid, "/")]


async def drop(server: RunningServer, client: Client) -> str:
    """Break ``client``'s connection from the server side (as a lost network does); return its pid."""
    sid = client.sid
    sock = socket_of(server, sid)
    pid = sock.recovery_pid
    assert pid, "the client did not opt in to recovery"
    sock.transport.abort()
    sio = server.app[SIO_KEY]
    for _ in range(100):
        if not sio.manager.is_connected(sid, "/"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the disconnect handler saved the session
    return str(pid)


def payloads(client: Client, event: str) -> list[Any]:
    """Return the payloads of ``event`` pushes (a recovering socket's come with an offset after them)."""
    return [p[0] if isinstance(p, list) else p for p in client.inbox.of(event)]


async def test_a_leaked_pid_without_the_token_gets_no_sid_room_or_missed_push(server: RunningServer) -> None:
    _, victim_info = await signed_in(server)
    token, user_id = victim_info["access_token"], victim_info["user"]["id"]
    victim = await connect_client(server.url, auth={"token": token, "recover": True})
    victim_sid = victim.sid
    pid = await drop(server, victim)
    await server.app[SIO_KEY].emit("private_note", {"secret": "for the victim only"}, to=user_room(user_id))

    attacker = await connect_client(server.url, auth={"pid": pid, "offset": "0"})  # anonymous, the pid alone
    await asyncio.sleep(0.3)
    assert attacker.sid != victim_sid
    assert payloads(attacker, "private_note") == []
    assert user_room(user_id) not in server.app[SIO_KEY].rooms(attacker.sid)
    await attacker.close()

    owner = await connect_client(server.url, auth={"token": token, "pid": pid, "offset": "0"})
    assert owner.sid == victim_sid  # the owner still gets it back
    note = await owner.inbox.wait_for("private_note")
    assert note[0] == {"secret": "for the victim only"}
    await owner.close()


async def test_another_visitor_with_the_widget_token_cannot_take_a_visitors_session(server: RunningServer) -> None:
    site = await site_of(server)
    tab, answer = await opened(site, "hello")
    secret = answer["visitor_secret"]
    credentials = {"widget_token": site.token, "visitor_secret": secret}
    phone = await connect_client(server.url, auth={**credentials, "recover": True})
    phone_sid = phone.sid
    pid = await drop(server, phone)
    await tab.ok("widget_send", {"ticket_id": answer["ticket"]["_id"], "message_data": "my address is 1 Main St"})

    other = await connect_client(server.url, auth={"widget_token": site.token, "pid": pid, "offset": "0"})
    await asyncio.sleep(0.3)
    assert other.sid != phone_sid
    assert payloads(other, "widget_message") == []
    await other.close()

    back = await connect_client(server.url, auth={**credentials, "pid": pid, "offset": "0"})
    assert back.sid == phone_sid
    message = await back.inbox.wait_for("widget_message")
    assert message[0]["message_data"] == "my address is 1 Main St"
    await back.close()


async def test_an_account_ended_during_the_drop_is_refused_and_replayed_nothing(server: RunningServer) -> None:
    admin, _ = await signed_in(server, "admin")
    _, info = await signed_in(server, "agent")
    victim = await connect_client(server.url, auth={"token": info["access_token"], "recover": True})
    pid = await drop(server, victim)
    await admin.ok("deactivate_user", {"user_id": info["user"]["id"]})

    refused = await refusal(server.url, {"token": info["access_token"], "pid": pid, "offset": "0"})
    assert refused["data"]["code"] == "unauthorized"
