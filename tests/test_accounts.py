"""Accounts and auth over real sockets: register, login, refresh, logout, roles, rate limits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from models.chat import MY_RESPONSE, ChatResponse
from models.roles import Role
from models.rooms import user_room
from tests.conftest import signed_in
from tests.helpers import ROOT, Client, ManualClock, RunningServer, refusal

PASSWORD = "correct horse battery"
MESSAGE = {"type": "chat", "room_id": "public", "side": "client", "author": "a", "message_type": "text"}


async def register(server: RunningServer, email: str = "ana@example.com", **extra: Any) -> tuple[Any, dict[str, Any]]:
    client = await server.client()
    data = await client.ok("register", {"email": email, "name": "Ana", "password": PASSWORD, **extra})
    return client, data


async def test_register_signs_the_socket_in_as_a_client(server: RunningServer) -> None:
    client, data = await register(server, "Ana@Example.com")
    assert data["user"]["email"] == "ana@example.com"
    assert data["user"]["role"] == "client"
    assert "password_hash" not in data["user"]
    assert data["expires_in"] == 15 * 60
    me = await client.ok("me")
    assert me["id"] == data["user"]["id"]


async def test_register_refuses_duplicates_and_bad_input(server: RunningServer) -> None:
    await register(server)
    other = await server.client()
    await other.error("register", {"email": "ana@example.com", "name": "B", "password": PASSWORD}, "conflict")
    bad = [
        {"name": "B", "password": PASSWORD},
        {"email": "not-an-email", "name": "B", "password": PASSWORD},
        {"email": "b@example.com", "name": "B", "password": "short"},
        {"email": "b@example.com", "name": " ", "password": PASSWORD},
        {"email": "b@example.com", "name": "B", "password": PASSWORD, "role": "admin"},
        {"phone": "12345", "name": "B", "password": PASSWORD},
        {"email": 7, "name": "B", "password": PASSWORD},
    ]
    for payload in bad:
        error = await other.error("register", payload, "invalid_payload")
        assert error["details"], error
    assert "correct horse" not in str(error)
    listed = await server.deps.accounts.store.list_users(None, None, 100)
    assert [u.email for u in listed] == ["ana@example.com"]


async def test_login_by_email_and_phone_and_token_connect(server: RunningServer) -> None:
    await register(server, "ana@example.com", phone="+4915112345678")
    client = await server.client()
    by_email = await client.ok("login", {"email": "ana@example.com", "password": PASSWORD})
    by_phone = await client.ok("login", {"phone": "+49 151 1234 5678", "password": PASSWORD})
    assert by_email["user"]["id"] == by_phone["user"]["id"]
    fresh = await server.client(token=by_phone["access_token"])
    assert (await fresh.ok("me"))["email"] == "ana@example.com"


async def test_wrong_password_is_unauthorized_and_rate_limited(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", clock=ManualClock())  # the window left is exact: no time passes
    await register(server)
    client = await server.client()
    for _ in range(5):
        err = await client.error("login", {"email": "ana@example.com", "password": "wrong password"}, "unauthorized")
    assert err["message"] == "wrong email, phone or password"
    limited = await client.error("login", {"email": "ana@example.com", "password": PASSWORD}, "rate_limited")
    assert limited["details"]["retry_after_seconds"] == 300


async def test_rate_limit_per_address_covers_many_accounts(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    srv = await start_server("sqlite", clock=clock)
    client = await srv.client()
    for i in range(5):
        await client.error("login", {"email": f"nobody{i}@example.com", "password": "whatever1234"}, "unauthorized")
    await client.error("login", {"email": "someone@example.com", "password": "whatever1234"}, "rate_limited")
    clock.advance(minutes=6)
    await client.error("login", {"email": "someone@example.com", "password": "whatever1234"}, "unauthorized")


async def test_refresh_rotates_and_logout_revokes(server: RunningServer) -> None:
    client, data = await register(server)
    renewed = await client.ok("refresh_token", {"refresh_token": data["refresh_token"]})
    assert renewed["refresh_token"] != data["refresh_token"]
    again = await client.ok("refresh_token", {"refresh_token": renewed["refresh_token"]})
    assert await client.ok("logout", {"refresh_token": again["refresh_token"]}) == {"revoked": 1}
    await client.error("me", None, "unauthorized")
    await client.error("refresh_token", {"refresh_token": again["refresh_token"]}, "unauthorized")


async def test_logout_everywhere_revokes_every_refresh_token(server: RunningServer) -> None:
    client, first = await register(server)
    second = await client.ok("login", {"email": "ana@example.com", "password": PASSWORD})
    assert (await client.ok("logout", {"everywhere": True}))["revoked"] == 2
    for token in (first["refresh_token"], second["refresh_token"]):
        await client.error("refresh_token", {"refresh_token": token}, "unauthorized")


async def test_expired_refresh_token_is_refused(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    srv = await start_server("sqlite", clock=clock)
    client, data = await register(srv)
    clock.advance(days=31)
    await client.error("refresh_token", {"refresh_token": data["refresh_token"]}, "unauthorized")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
async def test_bad_token_refuses_the_connection(server: RunningServer, token: str) -> None:
    said = await refusal(server.url, {"token": token})
    assert said["data"] == {"code": "unauthorized"}
    assert "token" in said["message"]
    assert (await (await server.client()).inbox.wait_for("my_response"))["data"] == "Welcome to Dowell Chat"


async def test_expired_access_token_refuses_the_connection(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    srv = await start_server("sqlite", clock=clock)
    _, data = await register(srv)
    clock.advance(minutes=16)
    said = await refusal(srv.url, {"token": data["access_token"]})
    assert said == {"message": "access token expired", "data": {"code": "unauthorized"}}


async def test_deactivated_user_is_disconnected_and_refused(server: RunningServer) -> None:
    admin, _ = await signed_in(server, Role.ADMIN)
    victim, info = await signed_in(server, Role.AGENT)
    user = await admin.ok("deactivate_user", {"user_id": info["user"]["id"]})
    assert user["active"] is False
    await victim.inbox.wait_for("session_ended")
    for _ in range(50):
        if not victim.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not victim.sio.connected
    said = await refusal(server.url, {"token": info["access_token"]})
    assert said["message"] == "this account is deactivated"
    login = await server.client()
    await login.error("login", {"email": info["email"], "password": PASSWORD}, "forbidden")
    await login.error("refresh_token", {"refresh_token": info["refresh_token"]}, "unauthorized")


async def test_admin_manages_users_and_others_are_denied(server: RunningServer) -> None:
    admin, _ = await signed_in(server, Role.ADMIN)
    agent, _ = await signed_in(server, Role.AGENT)
    anonymous = await server.client()
    new = {"email": "bob@example.com", "name": "Bob", "password": PASSWORD, "role": "manager"}
    await anonymous.error("create_user", new, "unauthorized")
    await agent.error("create_user", new, "forbidden")
    await agent.error("list_users", {}, "forbidden")
    bob = await admin.ok("create_user", new)
    assert bob["role"] == "manager"
    await admin.error("create_user", new, "conflict")
    await admin.error("create_user", {**new, "email": "x@example.com", "role": "root"}, "invalid_payload")

    updated = await admin.ok("update_user", {"user_id": bob["id"], "name": "Robert", "role": "agent"})
    assert (updated["name"], updated["role"]) == ("Robert", "agent")
    await admin.error("update_user", {"user_id": "0" * 24, "name": "X"}, "not_found")
    await admin.error("update_user", {"user_id": bob["id"], "colour": "red"}, "invalid_payload")

    page1 = await admin.ok("list_users", {"limit": 2})
    assert len(page1["users"]) == 2 and page1["next_cursor"]
    page2 = await admin.ok("list_users", {"limit": 2, "cursor": page1["next_cursor"]})
    ids = [u["id"] for u in page1["users"] + page2["users"]]
    assert len(ids) == len(set(ids)) == 3
    agents = await admin.ok("list_users", {"role": "agent"})
    assert {u["name"] for u in agents["users"]} >= {"Robert"}
    await admin.error("list_users", {"cursor": "nonsense!"}, "invalid_payload")


async def test_role_change_moves_the_socket_out(server: RunningServer) -> None:
    admin, _ = await signed_in(server, Role.ADMIN)
    manager, info = await signed_in(server, Role.MANAGER)
    await admin.ok("update_user", {"user_id": info["user"]["id"], "role": "client"})
    await manager.inbox.wait_for("session_ended")


async def test_create_admin_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"DESKLINE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "server.py", "create-admin", "--email", "Root@Example.com", "--password", PASSWORD]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "admin created" in done.stdout
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr
    weak = subprocess.run([*cmd[:-1], "short"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert weak.returncode == 2 and "password" in weak.stderr


async def test_tokens_follow_the_injected_clock(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    srv = await start_server("sqlite", clock=clock)
    clock.advance(hours=3)  # tokens are now issued "in the future" as far as the wall clock knows
    _, data = await register(srv)
    client = await srv.client(token=data["access_token"])
    assert (await client.ok("me"))["email"] == "ana@example.com"


def pinged(client: Client) -> list[Any]:
    """Return the test pings (``my_response`` "ping", pushed to the user's room) the client received."""
    return [m for m in client.inbox.of("my_response") if isinstance(m, dict) and m.get("data") == "ping"]


async def test_logout_leaves_every_private_room(server: RunningServer) -> None:
    leaving, info = await signed_in(server, Role.ADMIN)
    staying, _ = await signed_in(server, Role.ADMIN)
    creator, _ = await signed_in(server, Role.ADMIN)
    for admin in (leaving, staying):
        await admin.ok("watch_pool")
    await leaving.ok("join", {"room": "public"})
    await leaving.ok("logout", {})
    await creator.ok("create_pool_tickets", {"title": "after logout"})
    await staying.inbox.wait_for("pool_changed")
    await server.deps.emitter.push(MY_RESPONSE, ChatResponse(data="ping"), to=user_room(info["user"]["id"]))
    await creator.ok("message_event", {**MESSAGE, "message_data": "public still"})
    await leaving.inbox.wait_for("my_response", lambda m: m.get("data") == "public still")
    assert leaving.inbox.of("pool_changed") == [] and pinged(leaving) == []


async def test_signing_in_as_someone_else_drops_the_previous_users_rooms(server: RunningServer) -> None:
    first, info = await signed_in(server, Role.ADMIN)
    await first.ok("watch_pool")
    await first.ok("register", {"email": "second@example.com", "name": "Second", "password": PASSWORD})
    admin, _ = await signed_in(server, Role.ADMIN)
    await admin.ok("watch_pool")
    await admin.ok("create_pool_tickets", {"title": "x"})
    await admin.inbox.wait_for("pool_changed")
    await server.deps.emitter.push(MY_RESPONSE, ChatResponse(data="ping"), to=user_room(info["user"]["id"]))
    await asyncio.sleep(0.2)
    assert first.inbox.of("pool_changed") == [] and pinged(first) == []


FAST_ARGON = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


async def test_register_login_and_create_user_take_local_phone_numbers(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **FAST_ARGON)  # default country IR (+98)
    anon = await server.client()
    made = await anon.ok("register", {"phone": "0912 123-4567", "name": "Reza", "password": PASSWORD})
    assert made["user"]["phone"] == "+989121234567"
    stored = await server.deps.accounts.store.find_by_contact(None, "+989121234567")
    assert stored is not None and stored.id == made["user"]["id"]
    for typed in ("09121234567", "+98 912 123 4567", "0098 (912) 1234567"):
        pair = await (await server.client()).ok("login", {"phone": typed, "password": PASSWORD})
        assert pair["user"]["id"] == made["user"]["id"], typed
    await (await server.client()).error(
        "register", {"phone": "+989121234567", "name": "Twin", "password": PASSWORD}, "conflict"
    )

    admin, _ = await signed_in(server, Role.ADMIN)
    agent = await admin.ok(
        "create_user", {"phone": "0912-765-4321", "name": "Ali", "password": PASSWORD, "role": "agent"}
    )
    assert agent["phone"] == "+989127654321" and agent["role"] == "agent"
    assert (await anon.ok("login", {"phone": "+989127654321", "password": PASSWORD}))["user"]["id"] == agent["id"]
    for phone in ("0123", "912 123 4567", "0912123456789012", "+0912", "09121234567x"):
        error = await admin.error(
            "create_user", {"phone": phone, "name": "Bad", "password": PASSWORD, "role": "agent"}, "invalid_payload"
        )
        assert error["details"][0]["field"] == "phone", error
    assert len(await server.deps.accounts.store.list_users(None, None, 100)) == 3

    # The failure limit counts every spelling of a number against the one account (here from the address
    # Reza signed in from above, so on that account-and-address pair).
    for typed in ("09121234567", "+989121234567", "0912 123 4567", "09121234567", "+98 912 1234567"):
        await anon.error("login", {"phone": typed, "password": "wrong password 1"}, "unauthorized")
    await anon.error("login", {"phone": "+989121234567", "password": PASSWORD}, "rate_limited")
    counter = await server.deps.accounts.store.login_counter(f"known:{made['user']['id']}|127.0.0.1")
    assert counter is not None and counter.count == 5


async def test_local_phone_numbers_are_read_in_the_configured_default_country(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", default_country="DE", **FAST_ARGON)
    anon = await server.client()
    made = await anon.ok("register", {"phone": "0151 1234 5678", "name": "Jana", "password": PASSWORD})
    assert made["user"]["phone"] == "+4915112345678"
    pair = await (await server.client()).ok("login", {"phone": "015112345678", "password": PASSWORD})
    assert pair["user"]["id"] == made["user"]["id"]


async def test_a_good_login_forgives_earlier_typos_at_a_known_address(server: RunningServer) -> None:
    await register(server)
    client = await server.client()
    await client.ok("login", {"email": "ana@example.com", "password": PASSWORD})  # this address is known now
    for _ in range(2):
        for _ in range(4):
            await client.error("login", {"email": "ana@example.com", "password": "wrong password"}, "unauthorized")
        await client.ok("login", {"email": "ana@example.com", "password": PASSWORD})
    for _ in range(5):
        await client.error("login", {"email": "ana@example.com", "password": "wrong password"}, "unauthorized")
    await client.error("login", {"email": "ana@example.com", "password": PASSWORD}, "rate_limited")


async def test_admin_who_demotes_itself_gets_its_ack_then_is_signed_out(server: RunningServer) -> None:
    admin, info = await signed_in(server, Role.ADMIN)
    other_tab = await server.client(token=info["access_token"])
    user = await admin.ok("update_user", {"user_id": info["user"]["id"], "role": "agent"})
    assert user["role"] == "agent"
    await admin.error("me", None, "unauthorized")  # signed out, still connected, no push
    assert admin.sio.connected and not admin.inbox.of("session_ended")
    assert await other_tab.inbox.wait_for("session_ended") == {"reason": "account changed by an administrator"}
    await asyncio.wait_for(other_tab.sio.wait(), 5)
    said = await refusal(server.url, {"token": info["access_token"]})
    assert said["data"] == {"code": "unauthorized"}
