"""Queue offices, the clients' events: search, live tracking (across instances), numbers, position and wait."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from models.roles import Role
from tests.conftest import signed_in
from tests.helpers import ROOT, Client, ManualClock, RunningServer, ServerProcess, connect_client, free_port, start_all
from tests.notify_doubles import FAST, MailCatcher, mail
from tests.queue_helpers import staffed_office

__all__ = ["mail"]  # fixture

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # in the past: PyJWT refuses tokens issued in the future
PASSWORD = "correct horse battery"


async def test_search_offices(any_server: RunningServer) -> None:
    manager, _ = await signed_in(any_server, Role.MANAGER)
    post = await manager.ok("create_office", {"name": "Central Post Office", "windows": 2})
    await manager.ok("create_office", {"name": "Harbour Clinic", "windows": 1})
    anonymous = await any_server.client()
    found = (await anonymous.ok("search_offices", {"q": "post"}))["offices"]
    assert found == [
        {
            "ref_office": post["ref_office"],
            "name": "Central Post Office",
            "address": None,
            "counter": 0,
            "windows": [
                {"number_window": 1, "open": False, "current_number": None},
                {"number_window": 2, "open": False, "current_number": None},
            ],
        }
    ]
    by_ref = (await anonymous.ok("search_offices", {"q": post["ref_office"].upper()}))["offices"]
    assert [o["name"] for o in by_ref] == ["Central Post Office"]
    assert len((await anonymous.ok("search_offices", {"q": "ref", "limit": 1}))["offices"]) == 1
    assert (await anonymous.ok("search_offices", {"q": "nowhere"}))["offices"] == []
    for bad in ({"q": ""}, {"q": 5}, {}, {"q": "x", "limit": 0}, {"q": "x", "limit": 51}, {"q": "x", "page": 2}):
        await anonymous.error("search_offices", bad, "invalid_payload")


async def test_track_offices_enable_disable(server: RunningServer) -> None:
    one = await staffed_office(server, agents=1, name="One")
    two = await staffed_office(server, agents=1, name="Two")
    tracker = await server.client()
    tracked = await tracker.ok("track_offices", {"action": "enable", "ref_offices": [one.ref, two.ref, one.ref]})
    assert tracked["tracking"] == sorted([one.ref, two.ref]) and len(tracked["offices"]) == 2
    assert tracked["message"] == "enable notifications for offices applied successfully"  # the seed's words
    await one.agents[0].ok("increment_counter", {"ref_office": one.ref, "number_window": 1})
    await two.agents[0].ok("increment_counter", {"ref_office": two.ref, "number_window": 1})
    pushes = await tracker.inbox.wait_count("counter_updated", 2)
    assert sorted(p["ref_office"] for p in pushes) == sorted([one.ref, two.ref])

    left = await tracker.ok("track_offices", {"action": "disable", "ref_offices": [one.ref]})
    assert left["tracking"] == [two.ref]
    assert left["message"] == "disable notifications for offices applied successfully"
    await one.agents[0].ok("increment_counter", {"ref_office": one.ref, "number_window": 1})
    await two.agents[0].ok("increment_counter", {"ref_office": two.ref, "number_window": 1})
    await tracker.inbox.wait_for("counter_updated", lambda m: m["ref_office"] == two.ref and m["counter"] == 2)
    await asyncio.sleep(0.2)
    assert not any(p["ref_office"] == one.ref and p["counter"] == 2 for p in tracker.inbox.of("counter_updated"))

    other = await server.client()
    error = await other.error("track_offices", {"action": "enable", "ref_offices": [one.ref, "ref99"]}, "not_found")
    assert error["details"] == {"ref_offices": ["ref99"]}
    for bad in (
        {"action": "start", "ref_offices": [one.ref]},
        {"action": "enable", "ref_offices": []},
        {"action": "enable", "ref_offices": one.ref},
        {"action": "enable"},
        {"ref_offices": [one.ref]},
    ):
        await other.error("track_offices", bad, "invalid_payload")
    await one.agents[0].ok("increment_counter", {"ref_office": one.ref, "number_window": 1})
    await tracker.inbox.wait_for("counter_updated", lambda m: m["ref_office"] == two.ref)
    await asyncio.sleep(0.2)
    assert other.inbox.of("counter_updated") == []  # the failed request joined no room


async def test_a_signed_in_users_tracking_is_restored_when_they_reconnect(any_server: RunningServer) -> None:
    one = await staffed_office(any_server, agents=1, name="One")
    two = await staffed_office(any_server, agents=1, name="Two")
    three = await staffed_office(any_server, agents=1, name="Three")
    client, info = await signed_in(any_server, Role.CLIENT)
    token = info["access_token"]
    refs = [one.ref, two.ref, three.ref]
    await client.ok("track_offices", {"action": "enable", "ref_offices": refs})
    await client.ok("track_offices", {"action": "disable", "ref_offices": [two.ref]})
    anonymous = await any_server.client()
    await anonymous.ok("track_offices", {"action": "enable", "ref_offices": [two.ref]})
    await client.close()

    await one.agents[0].ok("increment_counter", {"ref_office": one.ref, "number_window": 1})  # while away
    await three.manager.ok("delete_office", {"ref_office": three.ref})
    back = await any_server.client(token=token)
    restored = await back.inbox.wait_for("tracking_restored")
    assert restored["tracking"] == [one.ref]  # not the disabled one, nor the deleted one
    assert [(o["ref_office"], o["counter"]) for o in restored["offices"]] == [(one.ref, 1)]
    for office in (one, two):
        await office.agents[0].ok("increment_counter", {"ref_office": office.ref, "number_window": 1})
    pushed = await back.inbox.wait_for("counter_updated")
    assert (pushed["ref_office"], pushed["counter"]) == (one.ref, 2)
    await anonymous.inbox.wait_for("counter_updated", lambda m: m["ref_office"] == two.ref)
    await asyncio.sleep(0.2)
    assert [p["ref_office"] for p in back.inbox.of("counter_updated")] == [one.ref]
    assert len(back.inbox.of("tracking_restored")) == 1

    second = await any_server.client(token=token)  # every socket of the user tracks
    assert (await second.inbox.wait_for("tracking_restored"))["tracking"] == [one.ref]
    again = await any_server.client()  # an anonymous socket has nothing to restore
    await again.ok("search_offices", {"q": one.ref})
    assert again.inbox.of("tracking_restored") == []
    await back.ok("track_offices", {"action": "disable", "ref_offices": [one.ref]})
    third = await any_server.client(token=token)
    await third.ok("search_offices", {"q": one.ref})
    assert third.inbox.of("tracking_restored") == []  # disabled everywhere: nothing left to restore


async def test_take_number_position_and_turn_pushes(start_server: Any) -> None:
    clock = ManualClock(T0)
    server = await start_server("sqlite", clock=clock)
    staffed = await staffed_office(server, agents=2)
    ref, (one, two) = staffed.ref, staffed.agents
    anonymous = await server.client()
    await anonymous.error("take_number", {"ref_office": ref}, "unauthorized")
    await anonymous.error("my_position", {"ref_office": ref}, "unauthorized")

    async def press(agent: Client, window: int, seconds: int) -> None:
        clock.now = T0 + timedelta(seconds=seconds)
        await agent.ok("increment_counter", {"ref_office": ref, "number_window": window})

    await press(one, 1, 0)  # 1
    await press(two, 2, 0)  # 2
    clients = [(await signed_in(server, Role.CLIENT))[0] for _ in range(6)]
    early = await clients[0].ok("take_number", {"ref_office": ref})
    assert (early["number"], early["ahead"], early["estimated_wait_seconds"], early["samples"]) == (3, 0, None, 0)
    await press(one, 1, 60)  # 3: number 1 took 60 s
    await press(two, 2, 120)  # 4: number 2 took 120 s
    assert (await clients[0].inbox.wait_for("your_turn"))["number_window"] == 1

    taken = [await c.ok("take_number", {"ref_office": ref}) for c in clients[1:]]
    assert [t["number"] for t in taken] == [5, 6, 7, 8, 9]
    last = taken[-1]
    assert (last["ahead"], last["open_windows"], last["average_service_seconds"]) == (4, 2, 90.0)
    assert last["estimated_wait_seconds"] == 180  # 4 ahead × 90 s over 2 windows
    await clients[1].error("take_number", {"ref_office": ref}, "conflict")
    for c in clients[1:5]:  # 5..8 are 3 or fewer away from counter 4
        soon = await c.inbox.wait_for("your_turn_soon")
        assert soon["ahead"] <= 3
        await c.inbox.wait_for("notification", lambda n: n["kind"] == "queue.your_turn_soon")
    assert clients[5].inbox.of("your_turn_soon") == []

    await press(one, 1, 200)  # 5: number 3 took 140 s
    turn = await clients[1].inbox.wait_for("your_turn")
    assert (turn["number"], turn["number_window"], turn["recalls"]) == (5, 1, 0)
    note = await clients[1].inbox.wait_for("notification", lambda n: n["kind"] == "queue.your_turn")
    assert note["data"]["number_window"] == 1 and "window 1" in note["body"]
    soon = await clients[5].inbox.wait_for("your_turn_soon")
    assert soon == {"ref_office": ref, "number": 9, "ahead": 3}
    position = await clients[5].ok("my_position", {"ref_office": ref})
    assert (position["ahead"], position["average_service_seconds"], position["samples"]) == (3, 106.7, 3)
    assert position["estimated_wait_seconds"] == 160  # round(3 × 106.7 / 2)
    called = await clients[1].ok("my_position", {"ref_office": ref})
    assert (called["status"], called["ahead"], called["number_window"], called["estimated_wait_seconds"]) == (
        "called",
        0,
        1,
        None,
    )
    await staffed.manager.ok("delete_agent", {"ref_office": ref, "agent_id": staffed.agent_ids[1]})
    alone = await clients[5].ok("my_position", {"ref_office": ref})
    assert (alone["open_windows"], alone["estimated_wait_seconds"]) == (1, 320)
    await staffed.manager.ok("delete_agent", {"ref_office": ref, "agent_id": staffed.agent_ids[0]})
    assert (await clients[5].ok("my_position", {"ref_office": ref}))["estimated_wait_seconds"] is None
    assert len(clients[5].inbox.of("your_turn_soon")) == 1  # told once

    stranger, _ = await signed_in(server, Role.CLIENT)
    await stranger.error("my_position", {"ref_office": ref}, "not_found")
    await stranger.error("my_position", {"ref_office": "ref99"}, "not_found")
    await stranger.error("take_number", {"ref_office": "ref99"}, "not_found")
    await stranger.error("take_number", {"ref_office": ref, "number": 3}, "invalid_payload")


async def test_turn_emails_are_opt_in_and_in_app_pushes_stay_on(start_server: Any, mail: MailCatcher) -> None:
    server = await start_server("sqlite", **mail.settings(), **FAST)
    staffed = await staffed_office(server, agents=1)
    ref, agent, window = staffed.ref, staffed.agents[0], {"ref_office": staffed.ref, "number_window": 1}
    outbox = server.deps.notifier.store
    holder, info = await signed_in(server, Role.CLIENT)
    other, _ = await signed_in(server, Role.CLIENT)
    kinds = ("queue.your_turn_soon", "queue.your_turn", "queue.your_turn_missed")

    await holder.ok("take_number", {"ref_office": ref})  # 1: told soon at once
    await agent.ok("increment_counter", window)
    await agent.ok("no_show", window)
    for event in ("your_turn_soon", "your_turn", "your_turn_missed"):
        await holder.inbox.wait_for(event)
    for kind in kinds:
        await holder.inbox.wait_for("notification", lambda n, k=kind: n["kind"] == k)
    assert await outbox.list_outbox(None, 10) == []  # by default: pushes and in-app items, no email
    assert mail.messages == []

    prefs = await holder.ok("set_notification_prefs", {"kinds": {k: {"email": True} for k in kinds}})
    assert all(prefs["kinds"][k] == {"email": True} for k in kinds)
    await other.ok("set_notification_prefs", {"kinds": {k: {"in_app": True} for k in kinds}})  # email not named
    await holder.ok("take_number", {"ref_office": ref})  # 2
    await other.ok("take_number", {"ref_office": ref})  # 3
    await agent.ok("increment_counter", window)  # calls 2
    await agent.ok("no_show", window)
    sent = await mail.wait_count(3)
    assert sorted(m["Subject"] for m in sent) == ["It is your turn", "You missed your turn", "Your turn is near"]
    assert {m["To"] for m in sent} == {info["user"]["email"]}
    queued = await outbox.list_outbox(None, 10)
    assert sorted(m.kind for m in queued) == sorted(kinds) and {m.user_id for m in queued} == {info["user"]["id"]}
    await other.inbox.wait_for("notification", lambda n: n["kind"] == "queue.your_turn_soon")  # in-app still on


async def test_wait_uses_the_last_20_services(start_server: Any) -> None:
    clock = ManualClock(T0)
    server = await start_server("sqlite", clock=clock, access_token_minutes=180)  # the agent works 1.5 hours
    staffed = await staffed_office(server, agents=1)
    window = {"ref_office": staffed.ref, "number_window": 1}
    gaps = [600] * 5 + [30] * 20  # five slow services long ago, then twenty quick ones
    for gap in [0, *gaps]:
        clock.advance(seconds=gap)
        await staffed.agents[0].ok("increment_counter", window)
    first, _ = await signed_in(server, Role.CLIENT)
    second, _ = await signed_in(server, Role.CLIENT)
    await first.ok("take_number", {"ref_office": staffed.ref})
    taken = await second.ok("take_number", {"ref_office": staffed.ref})
    assert (taken["number"], taken["ahead"], taken["samples"], taken["average_service_seconds"]) == (28, 1, 20, 30.0)
    assert taken["estimated_wait_seconds"] == 30


async def _login(url: str, email: str) -> Client:
    client = await connect_client(url)
    await client.ok("login", {"email": email, "password": PASSWORD})
    return client


async def test_tracking_and_counting_across_two_processes(tmp_path: Path, redis_url: str) -> None:
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path / "shared"),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"deskline-queue-test-{uuid.uuid4().hex[:8]}",
        "DESKLINE_JWT_SECRET": "cluster-secret-" + "y" * 40,
        "DESKLINE_LOG_LEVEL": "WARNING",
    }
    (tmp_path / "shared").mkdir()
    admin_email = "admin@example.com"
    created = await asyncio.create_subprocess_exec(
        sys.executable, "server.py", "create-admin", "--email", admin_email, "--password", PASSWORD,
        cwd=ROOT, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await created.communicate()
    assert created.returncode == 0, err
    first, second = ServerProcess(env, free_port()), ServerProcess(env, free_port())
    clients: list[Client] = []
    try:
        await start_all(first, second)
        admin = await _login(first.url, admin_email)
        clients.append(admin)
        emails: dict[str, list[tuple[str, str]]] = {}
        for role in ("manager", "agent", "agent", "client"):
            email = f"{uuid.uuid4().hex[:8]}@example.com"
            user = await admin.ok("create_user", {"email": email, "name": role, "password": PASSWORD, "role": role})
            emails.setdefault(role, []).append((email, user["id"]))
        manager = await _login(first.url, emails["manager"][0][0])
        agent_a = await _login(first.url, emails["agent"][0][0])
        agent_b = await _login(second.url, emails["agent"][1][0])
        holder = await _login(second.url, emails["client"][0][0])
        watcher = await _login(second.url, emails["manager"][0][0])
        tracker = await connect_client(second.url)
        clients += [manager, agent_a, agent_b, holder, watcher, tracker]

        ref = (await manager.ok("create_office", {"name": "Cluster Office", "windows": 2}))["ref_office"]
        for window, (_, agent_id) in enumerate(emails["agent"], start=1):
            await manager.ok("assign_agent", {"office_id": ref, "number_window": window, "agent_id": agent_id})
        await tracker.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
        await holder.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
        await watcher.ok("watch_office_stats", {"ref_office": ref})
        assert (await holder.ok("take_number", {"ref_office": ref}))["number"] == 1

        assert (await agent_a.ok("increment_counter", {"ref_office": ref, "number_window": 1}))["counter"] == 1
        pushed = await tracker.inbox.wait_for("counter_updated")  # agent on the first, tracker on the second
        assert (pushed["counter"], pushed["number_window"]) == (1, 1)
        turn = await holder.inbox.wait_for("your_turn")
        assert (turn["number"], turn["number_window"]) == (1, 1)
        assert (await watcher.inbox.wait_for("office_stats_updated"))["served"] == 1

        async def press(agent: Client, window: int, times: int) -> list[int]:
            payload = {"ref_office": ref, "number_window": window}
            return [(await agent.ok("increment_counter", payload))["counter"] for _ in range(times)]

        a, b = await asyncio.gather(press(agent_a, 1, 10), press(agent_b, 2, 10))
        assert sorted(a + b) == list(range(2, 22))
        await tracker.inbox.wait_for("counter_updated", lambda m: m["counter"] == 21)

        await tracker.close()  # the tracker comes back on the other instance and tracks again
        tracker = await connect_client(first.url)
        clients.append(tracker)
        again = await tracker.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
        assert again["offices"][0]["counter"] == 21
        await agent_b.ok("increment_counter", {"ref_office": ref, "number_window": 2})
        pushed = await tracker.inbox.wait_for("counter_updated")
        assert (pushed["counter"], pushed["number_window"]) == (22, 2)

        await holder.close()  # the signed-in holder comes back on the other instance: tracking is restored
        holder = await _login(first.url, emails["client"][0][0])
        clients.append(holder)
        restored = await holder.inbox.wait_for("tracking_restored")
        assert restored["tracking"] == [ref] and restored["offices"][0]["counter"] == 22
        await agent_b.ok("increment_counter", {"ref_office": ref, "number_window": 2})
        assert (await holder.inbox.wait_for("counter_updated"))["counter"] == 23

        await manager.ok("delete_office", {"ref_office": ref})
        assert (await tracker.inbox.wait_for("office_deleted"))["ref_office"] == ref
        assert (await watcher.inbox.wait_for("office_deleted"))["ref_office"] == ref
    finally:
        for client in clients:
            await client.close()
        first.stop()
        second.stop()
