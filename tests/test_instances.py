"""Proofs with two real server processes sharing one Redis and one database (SQLite file or MongoDB)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import socketio
from argon2 import PasswordHasher

from auth.passwords import Passwords
from auth.tokens import TokenIssuer
from config import Settings
from models.common import utc_now
from models.roles import Role
from services.accounts import AccountService
from storage import open_database
from storage.accounts import make_account_store
from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all
from tests.test_calls import ANSWER, OFFER, candidate

SECRET = "instances-secret-" + "y" * 40
HEARTBEAT, TTL = 0.5, 2.0


class Cluster:
    """Two ``python server.py`` processes on one database and one Redis channel."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.a = ServerProcess(env, free_port())
        self.b = ServerProcess(env, free_port())
        self.clients: list[Client] = []

    async def client(self, server: ServerProcess, token: str | None = None) -> Client:
        """A Socket.IO client connected to ``server``."""
        client = await connect_client(server.url, token)
        self.clients.append(client)
        return client

    async def user(self, role: Role = Role.CLIENT, name: str = "someone") -> tuple[str, str]:
        """Create a user in the shared database; return (user id, access token)."""
        settings = Settings(
            data_dir=Path(self.env["DESKLINE_DATA_DIR"]),
            mongo_url=self.env.get("DESKLINE_MONGO_URL"),
            mongo_db=self.env.get("DESKLINE_MONGO_DB", "deskline"),
            jwt_secret=SECRET,
        )
        db = await open_database(settings)
        try:
            store = make_account_store(db)
            tokens = TokenIssuer(SECRET, timedelta(minutes=15), timedelta(days=1))
            cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # never logged in with
            accounts = AccountService(store, cheap, tokens, 5, timedelta(minutes=5))
            email = f"{uuid.uuid4().hex[:10]}@example.com"
            user = await accounts.create(email, None, name, "correct horse battery", role, utc_now())
            return user.id, (await accounts.issue(user, utc_now())).access_token
        finally:
            await db.close()


@pytest.fixture
async def cluster(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> AsyncIterator[Cluster]:
    """Two server processes; ``backend`` (if the test is parametrized with it) picks the database."""
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path / "shared"),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"t-{uuid.uuid4().hex[:12]}",
        "DESKLINE_JWT_SECRET": SECRET,
        "DESKLINE_LOG_LEVEL": "WARNING",
        "DESKLINE_PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "DESKLINE_PRESENCE_TTL_SECONDS": str(TTL),
    }
    if getattr(request, "param", "sqlite") == "mongo":
        env["DESKLINE_MONGO_URL"] = request.getfixturevalue("mongo_url")
        env["DESKLINE_MONGO_DB"] = f"t_{uuid.uuid4().hex[:12]}"
    both = Cluster(env)
    await start_all(both.a, both.b)
    yield both
    for client in both.clients:
        await client.close()
    for server in (both.a, both.b):
        server.stop()
        assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_call_from_one_instance_to_another(cluster: Cluster) -> None:
    ana_id, ana_token = await cluster.user(name="Ana")
    bob_id, bob_token = await cluster.user(Role.AGENT, "Bob")
    _, eve_token = await cluster.user()
    caller = await cluster.client(cluster.a, ana_token)
    callee = await cluster.client(cluster.b, bob_token)
    intruder = await cluster.client(cluster.b, eve_token)

    call = await caller.ok("call_invite", {"to_user": bob_id, "media": "video", "sdp": OFFER})
    incoming = await callee.inbox.wait_for("call_incoming")
    assert incoming == {"call_id": call["id"], "from_user": ana_id, "from_name": "Ana", "media": "video", "sdp": OFFER}
    await intruder.error("call_answer", {"call_id": call["id"], "sdp": ANSWER}, "forbidden")
    assert (await callee.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER}))["state"] == "active"
    assert await caller.inbox.wait_for("call_answered") == {"call_id": call["id"], "sdp": ANSWER, "by_user": bob_id}

    for n in range(10):
        await caller.emit("call_ice", {"call_id": call["id"], "candidate": candidate(n)})
        await callee.emit("call_ice", {"call_id": call["id"], "candidate": candidate(50 + n)})
    to_callee = await callee.inbox.wait_count("call_ice", 10)
    to_caller = await caller.inbox.wait_count("call_ice", 10)
    assert [m["candidate"] for m in to_callee] == [candidate(n) for n in range(10)]
    assert [m["candidate"] for m in to_caller] == [candidate(50 + n) for n in range(10)]
    await intruder.error("call_ice", {"call_id": call["id"], "candidate": candidate(99)}, "forbidden")

    assert (await caller.ok("call_hangup", {"call_id": call["id"]}))["end_reason"] == "hangup"
    assert await callee.inbox.wait_for("call_ended") == {"call_id": call["id"], "reason": "hangup", "by_user": ana_id}
    await callee.error("call_hangup", {"call_id": call["id"]}, "conflict")
    await asyncio.sleep(0.3)
    assert len(callee.inbox.of("call_ice")) == 10 and len(caller.inbox.of("call_ice")) == 10
    assert caller.inbox.of("call_ended") == [] and intruder.inbox.of("call_incoming") == []


async def test_dowell_call_from_one_instance_to_another(cluster: Cluster) -> None:
    caller = await cluster.client(cluster.a)
    callee = await cluster.client(cluster.b)
    bystander = await cluster.client(cluster.b)
    signal = {"type": "offer", "sdp": OFFER}
    await caller.emit("callUser", {"userToCall": callee.sid, "signalData": signal, "from": caller.sid, "name": "Ana"})
    pushed = await callee.inbox.wait_for("callUser")
    assert pushed == {"signal": signal, "from": caller.sid, "name": "Ana", "verified": False}
    await callee.emit("answerCall", {"signal": {"type": "answer", "sdp": ANSWER}, "to": caller.sid})
    assert await caller.inbox.wait_for("callAccepted") == {"type": "answer", "sdp": ANSWER}
    await caller.emit("endCall")
    await callee.inbox.wait_for("callEnded")
    await asyncio.sleep(0.3)
    assert bystander.inbox.of("callUser") == [] and bystander.inbox.of("callEnded") == []
    assert caller.inbox.of("callEnded") == []

    # by user id: every socket of the user rings, on either instance; the caller's disconnect ends the call
    user_id, token = await cluster.user(name="Bob")
    phone, laptop = await cluster.client(cluster.a, token), await cluster.client(cluster.b, token)
    second = await cluster.client(cluster.b)
    await second.emit("callUser", {"userToCall": user_id, "signalData": signal, "from": second.sid, "name": "Cy"})
    for device in (phone, laptop):
        assert (await device.inbox.wait_for("callUser"))["from"] == second.sid
    assert (await phone.ok("answerCall", {"signal": "answer", "to": second.sid}))["call_id"]
    await laptop.error("answerCall", {"signal": "answer", "to": second.sid}, "not_found")
    assert await second.inbox.wait_for("callAccepted") == "answer"
    await second.close()
    await phone.inbox.wait_for("callEnded")


async def test_killed_instance_users_go_offline_and_their_calls_end(cluster: Cluster) -> None:
    ana_id, ana_token = await cluster.user(Role.AGENT, "Ana")
    bob_id, bob_token = await cluster.user(Role.AGENT, "Bob")
    _, watcher_token = await cluster.user()
    watcher = await cluster.client(cluster.b, watcher_token)
    assert (await watcher.ok("watch_presence", {"user_ids": [ana_id]}))["statuses"] == {ana_id: "offline"}
    ana = await cluster.client(cluster.a, ana_token)
    await watcher.inbox.wait_for("presence_changed", lambda p: p == {"user_id": ana_id, "status": "online"})
    assert (await watcher.ok("get_presence", {"user_ids": [ana_id]}))["statuses"] == {ana_id: "online"}
    bob = await cluster.client(cluster.b, bob_token)
    call = await ana.ok("call_invite", {"to_user": bob_id, "media": "audio", "sdp": OFFER})
    await bob.ok("call_answer", {"call_id": call["id"], "sdp": ANSWER})

    cluster.a.kill()
    killed = time.monotonic()
    offline = await watcher.inbox.wait_for(
        "presence_changed", lambda p: p == {"user_id": ana_id, "status": "offline"}, timeout=TTL + 10
    )
    took = time.monotonic() - killed
    assert offline and took <= TTL + 2 * HEARTBEAT + 3, took
    ended = await bob.inbox.wait_for("call_ended", timeout=5)
    assert ended == {"call_id": call["id"], "reason": "instance_lost", "by_user": None}
    assert (await watcher.ok("get_presence", {"user_ids": [ana_id, bob_id]}))["statuses"] == {
        ana_id: "offline",
        bob_id: "online",
    }
    assert [p["status"] for p in watcher.inbox.of("presence_changed") if p["user_id"] == ana_id] == [
        "online",
        "offline",
    ]


async def test_deactivation_on_one_instance_disconnects_the_users_sockets_on_both(cluster: Cluster) -> None:
    _, admin_token = await cluster.user(Role.ADMIN, "Admin")
    agent_id, agent_token = await cluster.user(Role.AGENT, "Ana")
    admin = await cluster.client(cluster.a, admin_token)
    here, there = await cluster.client(cluster.a, agent_token), await cluster.client(cluster.b, agent_token)
    bystander = await cluster.client(cluster.b, (await cluster.user(Role.AGENT, "Bo"))[1])
    await asyncio.sleep(HEARTBEAT)  # both instances have registered their sockets
    await admin.ok("deactivate_user", {"user_id": agent_id})
    for socket in (here, there):
        assert await socket.inbox.wait_for("session_ended") == {"reason": "account changed by an administrator"}
    for socket in (here, there):  # the server closes them (no reconnection in tests): wait() returns
        await asyncio.wait_for(socket.sio.wait(), 5)
    assert not here.sio.connected and not there.sio.connected
    assert bystander.sio.connected and (await bystander.ok("me"))["name"] == "Bo"


async def test_agent_reassigned_away_leaves_the_ticket_room_on_the_other_instance(cluster: Cluster) -> None:
    _, admin_token = await cluster.user(Role.ADMIN, "Ada")
    first_id, first_token = await cluster.user(Role.AGENT, "First")
    second_id, second_token = await cluster.user(Role.AGENT, "Second")
    _, client_token = await cluster.user(name="Cleo")
    admin, client = await cluster.client(cluster.a, admin_token), await cluster.client(cluster.a, client_token)
    workspace = (await admin.ok("create_workspace", {"name": "Acme", "auto_assign": False}))["workspace"]
    ws = {"workspace_id": workspace["id"]}
    billing = await admin.ok("create_category", {**ws, "name": "Billing"})
    tech = await admin.ok("create_category", {**ws, "name": "Tech"})
    await admin.ok("add_workspace_member", {**ws, "user_id": first_id, "categories": [billing["id"]]})
    await admin.ok("add_workspace_member", {**ws, "user_id": second_id})
    ticket = await client.ok("submit_ticket", {"category_id": tech["id"], "title": "Crash", "body": "It crashed"})
    tid = {"ticket_id": ticket["id"]}
    await admin.ok("reassign_ticket", {**tid, "assignee_id": first_id})
    first, second = await cluster.client(cluster.b, first_token), await cluster.client(cluster.b, second_token)
    for agent in (first, second):
        await agent.ok("get_ticket", tid)  # both join ticket:<id> on instance B
    await client.ok("typing", {**tid, "typing": True})  # relayed only to the ticket room
    for agent in (first, second):
        await agent.inbox.wait_for("typing", lambda t: t["typing"] is True)

    await admin.ok("reassign_ticket", {**tid, "assignee_id": second_id})  # on A; First serves only Billing
    await client.ok("typing", {**tid, "typing": False})
    await client.ok("send_ticket_message", {**tid, "body": "still broken"})
    await second.ok("set_ticket_status", {**tid, "status": "pending"})
    await second.inbox.wait_for("typing", lambda t: t["typing"] is False)
    await second.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "still broken")
    await second.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "pending")
    await asyncio.sleep(0.5)
    assert [t["typing"] for t in first.inbox.of("typing")] == [True]
    assert first.inbox.of("ticket_message") == []
    assert first.inbox.of("ticket_updated") == []  # out of the room before the reassignment was pushed
    await first.error("get_ticket", tid, "not_found")


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_logout_everywhere_on_one_instance_ends_the_users_sockets_on_both(cluster: Cluster) -> None:
    _, token = await cluster.user(Role.AGENT, "Ana")
    caller, here = await cluster.client(cluster.a, token), await cluster.client(cluster.a, token)
    there = await cluster.client(cluster.b, token)
    bystander = await cluster.client(cluster.b, (await cluster.user(Role.AGENT, "Bo"))[1])
    await asyncio.sleep(HEARTBEAT)  # both instances have registered their sockets
    assert (await caller.ok("logout", {"everywhere": True}))["revoked"] == 1
    for socket in (here, there):
        assert await socket.inbox.wait_for("session_ended") == {"reason": "logged out everywhere"}
    for socket in (here, there):
        await asyncio.wait_for(socket.sio.wait(), 5)
    assert caller.sio.connected and not caller.inbox.of("session_ended")
    await caller.error("me", None, "unauthorized")
    for server in (cluster.a, cluster.b):  # the old token is refused by either instance
        with pytest.raises(socketio.exceptions.ConnectionError):
            await cluster.client(server, token)
    assert (await bystander.ok("me"))["name"] == "Bo"
