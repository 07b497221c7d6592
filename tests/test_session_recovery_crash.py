"""Connection-state recovery after a crash (``kill -9``): a session is saved as it changes, not when its disconnect
is handled, so the unmodified JS client is recovered with its rooms and the events it missed, each once, on the
restarted instance or on another one behind Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import SIO_KEY
from tests.helpers import RunningServer, ServerProcess, connect_client, free_port
from tests.recovery_kit import JsClients, chat_lines, js, say
from tests.test_session_recovery_instances import ROOM, env_of, two_instances, writer_on

__all__ = ["js", "two_instances"]  # fixtures


@pytest.mark.timeout(90)
async def test_a_socket_is_recovered_after_its_server_is_killed_and_restarted(tmp_path: Path, js: JsClients) -> None:
    port = free_port()
    node = await ServerProcess(env_of(tmp_path), port).start()
    try:
        first = await js.open("a", node.url)
        await js.call("a", "join", {"room": ROOM})  # joined after connect: saved when it joins
        writer = await writer_on(node.url)
        await say(writer, ROOM, "before")
        await js.seen_until("a", lambda ev: "before" in chat_lines(ev, writer.sid))
        old_writer = writer.sid
        await say(writer, ROOM, "just before the crash")  # persisted; delivered or not, it arrives once
        node.kill()  # SIGKILL: no disconnect is handled, nothing is saved on the way out
        await js.driver.next("disconnected", disconnected="a")

        node = await ServerProcess(env_of(tmp_path), port).start()  # the same port and database
        writer = await writer_on(node.url)
        await say(writer, ROOM, "while it was away")
        back = await js.reconnect("a")
        assert back["recovered"] is True
        assert back["id"] == first["id"]
        await say(writer, ROOM, "after")
        events = await js.seen_until("a", lambda ev: "after" in chat_lines(ev, writer.sid))
        assert chat_lines(events, old_writer) == ["before", "just before the crash"]
        assert chat_lines(events, writer.sid) == ["while it was away", "after"]
        await writer.close()
    finally:
        node.kill()


@pytest.mark.timeout(90)
async def test_a_socket_of_a_killed_instance_is_recovered_on_another_behind_redis(
    two_instances: list[ServerProcess], js: JsClients
) -> None:
    a, b = two_instances
    first = await js.open("phone", a.url)
    await js.call("phone", "join", {"room": ROOM})
    writer = await writer_on(b.url)  # on the other instance: it keeps emitting while A is dead
    await say(writer, ROOM, "m0")
    await js.seen_until("phone", lambda ev: "m0" in chat_lines(ev, writer.sid))

    await say(writer, ROOM, "m1")  # right before the kill: A may or may not have passed it on
    a.kill()
    await js.driver.next("disconnected", disconnected="phone")
    for text in ("m2", "m3"):
        await say(writer, ROOM, text)
    back = await js.reconnect("phone", b.url)
    assert back["recovered"] is True
    assert back["id"] == first["id"]
    await say(writer, ROOM, "m4")
    events = await js.seen_until("phone", lambda ev: "m4" in chat_lines(ev, writer.sid))
    assert chat_lines(events, writer.sid) == ["m0", "m1", "m2", "m3", "m4"]  # none lost, none twice
    await writer.close()


async def test_the_saved_session_follows_each_join_and_leave_while_connected(server: RunningServer) -> None:
    """What a crash would leave behind is the session as it is now, not as it was at connect."""
    client = await connect_client(server.url, auth={"recover": True})
    sio = server.app[SIO_KEY]
    pid = sio.eio.sockets[sio.manager.eio_sid_from_sid(client.sid, "/")].recovery_pid
    for room in ("first", "second"):
        await client.ok("join", {"room": room})
    await client.ok("leave", {"room": "first"})
    saved = await sio.recovery.take(pid)  # read it as a restarted instance would
    assert saved is not None and saved.sid == client.sid
    assert saved.rooms == ["chat:second"]
    await client.close()
