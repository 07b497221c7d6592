"""Attack replays (issue 12 items 7-8): unknown events, unreadable payloads, event floods, upload floods."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
import socketio

from tests.conftest import signed_in
from tests.helpers import Client, RunningServer, free_port
from tests.raw_socket import RawSocket

MESSAGE = {"type": "t", "room_id": "r", "message_data": "m", "side": "s", "author": "a", "message_type": "x"}


def nested(depth: int) -> str:
    """Return a JSON list nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


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


async def test_undecodable_binary_packet_is_acked_and_its_attachment_dropped(
    server: RunningServer, raw_sockets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A binary event whose JSON part is nested 1100 levels: on main no ack and two tracebacks (packet, attachment)."""
    raw = await raw_sockets(server.url)
    placeholder = '{"_placeholder":true,"num":0}'
    await raw.ws.send_str(f'451-5["message_event",{{"message_data":{nested(1100)},"file":{placeholder}}}]')
    await raw.ws.send_bytes(b"\x00\x01\x02")
    assert (await raw.ack_of(5))["error"]["code"] == "invalid_payload"
    await raw.ws.send_str('426["join",{"room":"after"}]')
    assert (await raw.ack_of(6))["ok"] is True
    assert not tracebacks(caplog)


async def test_binary_value_to_a_dowell_support_event_gets_the_failure_envelope(server: RunningServer) -> None:
    from tests.test_support import admin_of, failure, keyed, new_workspace

    workspace, key = await new_workspace(await admin_of(server))
    client = await server.client()
    await client.error("create_topic", keyed(workspace, key, name=b"\x00"), "invalid_payload")
    assert await client.inbox.wait_for("setting_response") == failure("create_topic", "Invalid Data")


# --- item 8: event floods ---------------------------------------------------------------------------------


def call_user(to: str) -> dict[str, Any]:
    """A Dowell ``callUser`` payload."""
    return {"userToCall": to, "signalData": {"type": "offer", "sdp": "v=0"}, "name": "flood"}


async def flood_until_disconnected(client: Client, event: str, payload: Any, most: int) -> list[dict[str, Any]]:
    """Send ``event`` with an ack until the server disconnects the socket; return the acks received."""
    acks: list[dict[str, Any]] = []
    for _ in range(most):
        try:
            acks.append(await client.call(event, payload, timeout=3))
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            break
        if not client.sio.connected:
            break
    for _ in range(40):
        if not client.sio.connected:
            break
        await asyncio.sleep(0.05)
    return acks


async def test_call_signalling_flood_is_refused_then_disconnected(start_server: Any) -> None:
    """On main every ``callUser`` stores a call and starts a ring timer, without end."""
    server = await start_server("sqlite", rate_limit_calls="5/60", rate_limit_disconnect_after=3)
    attacker, victim, bystander = [await server.client() for _ in range(3)]
    acks = await flood_until_disconnected(attacker, "callUser", call_user(victim.sid), most=30)
    assert not attacker.sio.connected, acks
    assert [a["error"]["code"] for a in acks if not a["ok"]].count("rate_limited") == 3, acks
    assert len(acks) <= 5 + 3
    refused = [a for a in acks if not a["ok"] and a["error"]["code"] == "rate_limited"]
    assert all(0 < r["error"]["details"]["retry_after_seconds"] <= 12 for r in refused)
    assert {r["error"]["details"]["group"] for r in refused} == {"calls"}
    # others are not affected, nor are the attacker's other groups of events on a new socket
    assert (await bystander.call("callUser", call_user(victim.sid)))["ok"] is True
    assert (await victim.call("join", {"room": "r"}))["ok"] is True


async def test_unknown_event_flood_counts_against_the_default_limit(start_server: Any) -> None:
    server = await start_server("sqlite", rate_limit_default="4/60", rate_limit_disconnect_after=2)
    client = await server.client()
    acks = await flood_until_disconnected(client, "no_such_event", {"x": 1}, most=20)
    assert [a["error"]["code"] for a in acks] == ["unknown_event"] * 4 + ["rate_limited"] * 2
    assert not client.sio.connected


async def test_auth_flood_is_refused_in_its_own_group(start_server: Any) -> None:
    """On main a socket may send refresh or login attempts (argon2 hashing on login) as fast as it likes."""
    server = await start_server("sqlite", rate_limit_auth="3/60")
    client = await server.client()
    for _ in range(3):
        await client.error("refresh_token", {"refresh_token": "not-a-token"}, "unauthorized")
    error = await client.error("login", {"email": "a@example.com", "password": "wrong password"}, "rate_limited")
    assert error["details"]["group"] == "auth"
    assert (await client.call("join", {"room": "r"}))["ok"] is True  # the default group is untouched


async def test_a_users_limit_is_shared_by_its_sockets_on_two_instances(
    start_server: Any, settings_for: Any, redis_url: str
) -> None:
    """Two servers over one Redis: a second socket of the same user on the other instance gets no fresh bucket."""
    shared = settings_for("sqlite", redis_url=redis_url, redis_channel=f"floods-{uuid.uuid4().hex[:8]}")
    shared = shared.model_copy(update={"rate_limit_calls": "4/60"})
    one = await start_server(settings=shared)
    two = await start_server(settings=shared.model_copy(update={"port": free_port()}))
    first, info = await signed_in(one)
    second = await two.client(token=info["access_token"])
    stranger = await two.client()
    for _ in range(3):
        assert (await first.call("call_hangup", {"call_id": "0" * 24}))["error"]["code"] != "rate_limited"
    assert (await second.call("call_hangup", {"call_id": "0" * 24}))["error"]["code"] != "rate_limited"
    refused = await second.call("call_hangup", {"call_id": "0" * 24})
    assert refused["error"]["code"] == "rate_limited", refused
    refused = await first.call("call_hangup", {"call_id": "0" * 24})
    assert refused["error"]["code"] == "rate_limited", refused
    # another user on the same instance is not touched; other groups of the same user neither
    assert (await stranger.call("call_hangup", {"call_id": "0" * 24}))["error"]["code"] == "not_found"
    assert (await second.call("me"))["ok"] is True


async def test_normal_traffic_passes_the_default_limits(server: RunningServer) -> None:
    client, _ = await signed_in(server)
    acks = await asyncio.gather(*(client.call("join", {"room": f"r{n}"}) for n in range(300)))
    assert all(a["ok"] for a in acks)
    for _ in range(20):
        assert (await client.call("call_hangup", {"call_id": "0" * 24}))["error"]["code"] == "not_found"


# --- item 8: upload floods, quota and expiry --------------------------------------------------------------


async def test_upload_flood_is_rate_limited(start_server: Any) -> None:
    from tests.test_attachments import bearer, upload

    server = await start_server("sqlite", rate_limit_uploads="2/60")
    _, info = await signed_in(server)
    _, other = await signed_in(server)
    for _ in range(2):
        assert (await upload(server, bearer(info), b"log", "text/plain"))[0] == 201
    status, body = await upload(server, bearer(info), b"log", "text/plain")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 0 < body["error"]["details"]["retry_after_seconds"] <= 30
    assert (await upload(server, bearer(other), b"log", "text/plain"))[0] == 201  # another uploader


async def test_upload_quota_refuses_past_it_keeps_nothing_and_reopens_next_window(
    start_server: Any, backend: str, clock: Any
) -> None:
    """On main one uploader can fill the disk (or GridFS) with files it never uses."""
    from tests.test_attachments import bearer, download, upload

    server = await start_server(backend, clock=clock, attachment_quota_bytes=1000, attachment_quota_window_hours=0.1)
    _, info = await signed_in(server)
    status, first = await upload(server, bearer(info), b"a" * 600, "text/plain")
    assert status == 201
    status, body = await upload(server, bearer(info), b"b" * 600, "text/plain")
    assert status == 429 and body["error"]["code"] == "rate_limited", body
    assert body["error"]["details"]["quota_bytes"] == 1000
    assert 0 < body["error"]["details"]["retry_after_seconds"] <= 360
    assert (await upload(server, bearer(info), b"c" * 400, "text/plain"))[0] == 201  # exactly up to the quota
    assert (await upload(server, bearer(info), b"d", "text/plain"))[0] == 429  # full: refused before reading
    if backend == "sqlite":
        assert len(list((server.settings.data_dir / "attachments").iterdir())) == 2  # refused bytes not kept
    clock.advance(minutes=6)  # the next 6-minute window (the access token is still valid)
    assert (await upload(server, bearer(info), b"e" * 600, "text/plain"))[0] == 201
    assert (await download(server, first["id"], bearer(info)))[1] == b"a" * 600


async def test_unlinked_uploads_expire_after_the_ttl_and_linked_ones_stay(
    start_server: Any, backend: str, clock: Any
) -> None:
    """On main an upload nothing references is kept forever."""
    from tests.test_attachments import bearer, download, upload
    from tests.test_helpdesk import desk, ticket_payload

    server = await start_server(backend, clock=clock, unlinked_upload_ttl_hours=0.1, unlinked_upload_sweep_seconds=0.1)
    d = await desk(server)
    headers = bearer({"access_token": d.tokens["client"]})
    _, orphan = await upload(server, headers, b"orphan", "text/plain")
    _, used = await upload(server, headers, b"used", "text/plain")
    await d.client.ok("submit_ticket", ticket_payload(d.billing, attachments=[used["id"]]))
    clock.advance(minutes=5)  # (the TTL is 6 minutes, within the access token's life)
    _, young = await upload(server, headers, b"young", "text/plain")
    await asyncio.sleep(0.5)  # several sweeps: nothing is old enough yet
    assert (await download(server, orphan["id"], headers))[0] == 200
    clock.advance(minutes=2)
    for _ in range(100):
        if (await download(server, orphan["id"], headers))[0] == 404:
            break
        await asyncio.sleep(0.1)
    assert (await download(server, orphan["id"], headers))[0] == 404
    assert (await download(server, used["id"], headers))[1] == b"used"
    assert (await download(server, young["id"], headers))[1] == b"young"
    if backend == "sqlite":
        names = {p.name for p in (server.settings.data_dir / "attachments").iterdir()}
        assert orphan["id"] not in names and used["id"] in names
    await d.client.error("submit_ticket", ticket_payload(d.billing, attachments=[orphan["id"]]), "not_found")
