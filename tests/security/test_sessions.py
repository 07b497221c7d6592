"""Attack replays: sessions outliving logout everywhere, a password reset, token expiry or a stolen refresh token."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from models.roles import Role
from tests.conftest import signed_in
from tests.helpers import Client, ManualClock, RunningServer, refusal
from tests.notify_doubles import FAST, MailCatcher, mail, member
from tests.test_recovery import NEW_PASSWORD, reset_link, token_of

__all__ = ["mail"]  # fixture

PASSWORD = "correct horse battery"  # the password of tests.conftest.signed_in
TURN = {"turn_secret": "turn-shared-secret", "turn_uris": "turn:turn.example.com:3478"}


async def closed(client: Client) -> bool:
    """Wait until the server has closed ``client``; return True (fails the test after 5 s)."""
    await asyncio.wait_for(client.sio.wait(), 5)
    return not client.sio.connected


async def turn_status(server: RunningServer, access_token: str) -> int:
    """Return the HTTP status of ``GET /api/turn`` with ``access_token`` as the Bearer token."""
    headers = {"Authorization": f"Bearer {access_token}"}
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/turn", headers=headers) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200 or body["error"]["code"] == "unauthorized", body
        return resp.status


async def test_logout_everywhere_signs_out_the_users_other_sockets(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite")
    phone, info = await signed_in(server, Role.AGENT, "Ana")
    laptop = await server.client(token=info["access_token"])
    stranger, _ = await signed_in(server, Role.AGENT, "Bo")
    assert (await laptop.ok("me"))["name"] == "Ana"

    assert await phone.ok("logout", {"everywhere": True}) == {"revoked": 1}
    assert await laptop.inbox.wait_for("session_ended") == {"reason": "logged out everywhere"}
    assert await closed(laptop), "the user's other socket stayed signed in"
    await phone.error("me", None, "unauthorized")  # the caller got its ack, signed out, still connected
    assert phone.sio.connected and not phone.inbox.of("session_ended")
    assert (await stranger.ok("me"))["name"] == "Bo"


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_old_access_token_is_refused_after_logout_everywhere(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, **TURN)
    client, info = await signed_in(server)
    assert await turn_status(server, info["access_token"]) == 200
    await client.ok("logout", {"everywhere": True})

    said = await refusal(server.url, {"token": info["access_token"]})
    assert said["data"] == {"code": "unauthorized"} and "session was ended" in said["message"]
    assert await turn_status(server, info["access_token"]) == 401
    await client.error("refresh_token", {"refresh_token": info["refresh_token"]}, "unauthorized")
    fresh = await client.ok("login", {"email": info["email"], "password": PASSWORD})
    assert await turn_status(server, fresh["access_token"]) == 200  # a new login is a new session
    await (await server.client(token=fresh["access_token"])).ok("me")


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_old_access_token_is_refused_after_a_password_reset(
    start_server, mail: MailCatcher, backend: str
) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, **mail.settings(), **FAST, **TURN)
    victim, user = await member(server)
    old = await server.deps.accounts.issue(user, server.clock())
    assert await turn_status(server, old.access_token) == 200
    await (await server.client()).ok("request_password_reset", {"email": user.email})
    [message] = await mail.wait_count(1)

    form = {"token": token_of(reset_link(message)), "new_password": NEW_PASSWORD}
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/reset-password", data=form) as resp:
        assert resp.status == 200, await resp.text()  # the emailed link's form: the HTTP path
    assert await victim.inbox.wait_for("session_ended") == {"reason": "password changed"}
    assert await closed(victim)
    said = await refusal(server.url, {"token": old.access_token})
    assert said["data"] == {"code": "unauthorized"} and "session was ended" in said["message"]
    assert await turn_status(server, old.access_token) == 401


async def test_expired_admin_socket_must_refresh_before_its_next_event(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock)
    admin, info = await signed_in(server, Role.ADMIN)
    await admin.ok("list_users", {})

    clock.advance(minutes=15, seconds=1)  # the access token (15 minutes) has expired; the socket is still open
    for event, payload in (("list_users", {}), ("me", None), ("create_user", {"email": "x@example.com"})):
        error = await admin.error(event, payload, "unauthorized")
        assert error["details"] == {"reason": "token_expired"} and "refresh_token" in error["message"]

    renewed = await admin.ok("refresh_token", {"refresh_token": info["refresh_token"]})
    assert (await admin.ok("list_users", {}))["users"]
    clock.advance(minutes=15, seconds=1)
    await admin.error("list_users", {}, "unauthorized")
    await admin.ok("refresh_token", {"refresh_token": renewed["refresh_token"]})
    await admin.ok("list_users", {})


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_a_socket_the_disconnect_missed_is_refused_once_its_session_is_ended(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server(backend, clock=clock, session_recheck_seconds=5)
    admin, info = await signed_in(server, Role.ADMIN)
    await admin.ok("list_users", {})
    # Another instance ended the sessions, but its disconnect never reached this socket.
    await server.deps.accounts.end_sessions(info["user"]["id"])

    clock.advance(seconds=5)  # at most session_recheck_seconds later the socket reads the version again
    error = await admin.error("list_users", {}, "unauthorized")
    assert error["details"] == {"reason": "session_ended"}
    await admin.error("me", None, "unauthorized")  # signed out: no principal any more
    assert admin.sio.connected
    await admin.error("refresh_token", {"refresh_token": info["refresh_token"]}, "unauthorized")


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_refresh_token_reuse_revokes_the_whole_family(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend)
    victim, info = await signed_in(server)
    other_device = await victim.ok("login", {"email": info["email"], "password": PASSWORD})
    stolen = info["refresh_token"]  # the attacker copied it before the victim used it
    current = (await victim.ok("refresh_token", {"refresh_token": stolen}))["refresh_token"]

    attacker = await server.client()
    await attacker.error("refresh_token", {"refresh_token": stolen}, "unauthorized")
    await victim.error("refresh_token", {"refresh_token": current}, "unauthorized")  # the family is revoked

    # The other way round: the attacker rotates first, the victim's (now used) token revokes the attacker's.
    taken = (await attacker.ok("refresh_token", {"refresh_token": other_device["refresh_token"]}))["refresh_token"]
    await victim.error("refresh_token", {"refresh_token": other_device["refresh_token"]}, "unauthorized")
    await attacker.error("refresh_token", {"refresh_token": taken}, "unauthorized")

    # A family revoked for reuse takes no other family with it.
    fresh = await victim.ok("login", {"email": info["email"], "password": PASSWORD})
    await victim.ok("refresh_token", {"refresh_token": fresh["refresh_token"]})


async def test_signed_in_reset_password_gets_its_ack_then_is_signed_out(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    caller, user = await member(server)
    other = await server.client(token=(await server.deps.accounts.issue(user, server.clock())).access_token)
    bystander, _ = await member(server)
    await caller.ok("request_password_reset", {"email": user.email})
    [message] = await mail.wait_count(1)

    payload = {"token": token_of(reset_link(message)), "new_password": NEW_PASSWORD}
    assert await caller.ok("reset_password", payload) == {"reset": True, "signed_out": True}
    await caller.error("me", None, "unauthorized")
    assert caller.sio.connected and not caller.inbox.of("session_ended")
    assert await other.inbox.wait_for("session_ended") == {"reason": "password changed"}
    assert await closed(other)
    assert (await bystander.ok("me"))["id"] != user.id
    assert (await caller.ok("login", {"email": user.email, "password": NEW_PASSWORD}))["user"]["id"] == user.id
