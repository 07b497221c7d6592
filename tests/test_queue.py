"""Queue offices, the managers' events: offices, agents, resets, audit, statistics."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from models.roles import Role
from tests.conftest import signed_in
from tests.helpers import ManualClock, RunningServer
from tests.queue_helpers import office_state, staffed_office

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # in the past: PyJWT refuses tokens issued in the future


async def test_create_and_list_offices(any_server: RunningServer) -> None:
    manager, info = await signed_in(any_server, Role.MANAGER)
    office = await manager.ok("create_office", {"name": "  Town Hall ", "address": "Market 1", "windows": 3})
    assert re.fullmatch(r"ref\d{2,}", office["ref_office"])
    assert office["name"] == "Town Hall" and office["counter"] == 0 and office["manager_id"] == info["user"]["id"]
    assert [w["number_window"] for w in office["windows"]] == [1, 2, 3]
    second = await manager.ok("create_office", {"name": "Annex", "windows": 1})
    assert second["ref_office"] != office["ref_office"] and second["address"] is None
    listed = await manager.ok("list_my_offices")
    assert [o["ref_office"] for o in listed["offices"]] == [office["ref_office"], second["ref_office"]]

    other, _ = await signed_in(any_server, Role.MANAGER)
    assert (await other.ok("list_my_offices"))["offices"] == []
    admin, _ = await signed_in(any_server, Role.ADMIN)
    assert (await admin.ok("create_office", {"name": "HQ", "windows": 1}))["ref_office"]
    agent, agent_info = await signed_in(any_server, Role.AGENT)
    assert (await agent.ok("list_my_offices"))["offices"] == []
    await manager.ok(
        "assign_agent", {"office_id": second["ref_office"], "number_window": 1, "agent_id": agent_info["user"]["id"]}
    )
    assert [o["ref_office"] for o in (await agent.ok("list_my_offices"))["offices"]] == [second["ref_office"]]


async def test_create_office_refuses_bad_callers_and_payloads(server: RunningServer) -> None:
    manager, _ = await signed_in(server, Role.MANAGER)
    client, _ = await signed_in(server, Role.CLIENT)
    anonymous = await server.client()
    good = {"name": "Depot", "windows": 2}
    await client.error("create_office", good, "forbidden")
    await anonymous.error("create_office", good, "unauthorized")
    await client.error("list_my_offices", None, "forbidden")
    for bad in (
        {"name": "Depot"},
        {"name": "", "windows": 2},
        {"name": "Depot", "windows": 0},
        {"name": "Depot", "windows": "2"},
        {"name": "Depot", "windows": 1000},
        {"name": "Depot", "windows": 2, "counter": 5},
        "Depot",
        None,
    ):
        await manager.error("create_office", bad, "invalid_payload")
    assert (await manager.ok("list_my_offices"))["offices"] == []


async def test_update_office(server: RunningServer) -> None:
    staffed = await staffed_office(server, agents=1, windows=2)
    ref = staffed.ref
    updated = await staffed.manager.ok("update_office", {"ref_office": ref.upper(), "name": "Renamed", "windows": 4})
    assert updated["name"] == "Renamed" and updated["address"] == "1 Main St"
    assert [w["number_window"] for w in updated["windows"]] == [1, 2, 3, 4]
    assert updated["windows"][0]["agent_id"] == staffed.agent_ids[0]
    await staffed.manager.error("update_office", {"ref_office": ref, "windows": 3}, "conflict")
    await staffed.manager.error("update_office", {"ref_office": ref}, "invalid_payload")
    await staffed.manager.error("update_office", {"ref_office": "ref99", "name": "x"}, "not_found")
    await staffed.manager.error("update_office", {"ref_office": "bad ref!", "name": "x"}, "invalid_payload")
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("update_office", {"ref_office": ref, "name": "Stolen"}, "forbidden")
    await staffed.agents[0].error("update_office", {"ref_office": ref, "name": "Mine"}, "forbidden")
    admin, _ = await signed_in(server, Role.ADMIN)
    assert (await admin.ok("update_office", {"ref_office": ref, "address": "2 New Rd"}))["address"] == "2 New Rd"
    state = await office_state(other, ref)
    assert state["name"] == "Renamed" and len(state["windows"]) == 4


async def test_assign_and_delete_agent(server: RunningServer) -> None:
    manager, _ = await signed_in(server, Role.MANAGER)
    ref = (await manager.ok("create_office", {"name": "Clinic", "windows": 2}))["ref_office"]
    _, agent = await signed_in(server, Role.AGENT)
    agent_id = agent["user"]["id"]
    existing = await manager.ok("assign_agent", {"office_id": ref, "number_window": 2, "agent_id": agent_id})
    assert existing["message"] == "Agent assigned to existing window successfully"
    new = await manager.ok("assign_agent", {"office_id": ref, "number_window": 5, "agent_id": agent_id})
    assert new["message"] == "Agent assigned to new window successfully" and new["new_window"] is True
    windows = {
        w["number_window"]: w["agent_id"] for w in (await manager.ok("list_my_offices"))["offices"][0]["windows"]
    }
    assert windows == {1: None, 2: None, 5: agent_id}  # re-assigning moved the agent

    _, client = await signed_in(server, Role.CLIENT)
    bad_user = {"office_id": ref, "number_window": 1, "agent_id": client["user"]["id"]}
    error = await manager.error("assign_agent", bad_user, "invalid_payload")
    assert error["details"][0]["field"] == "agent_id"
    await manager.error("assign_agent", {"office_id": ref, "number_window": 1, "agent_id": "0" * 24}, "not_found")
    await manager.error("assign_agent", {"office_id": "ref99", "number_window": 1, "agent_id": agent_id}, "not_found")
    await manager.error("assign_agent", {"office_id": ref, "number_window": 0, "agent_id": agent_id}, "invalid_payload")
    await manager.error(
        "assign_agent", {"ref_office": ref, "number_window": 1, "agent_id": agent_id}, "invalid_payload"
    )
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("assign_agent", {"office_id": ref, "number_window": 1, "agent_id": agent_id}, "forbidden")

    removed = await manager.ok("delete_agent", {"ref_office": ref, "agent_id": agent_id})
    assert removed["windows"] == [5] and removed["message"] == "Agent deleted successfully"  # the seed's words
    await manager.error("delete_agent", {"ref_office": ref, "agent_id": agent_id}, "not_found")
    await other.error("delete_agent", {"ref_office": ref, "agent_id": agent_id}, "forbidden")
    audit = (await manager.ok("office_audit", {"ref_office": ref}))["entries"]
    assert [e["action"] for e in audit] == ["delete_agent", "assign_agent", "assign_agent"]
    assert audit[1]["previous"] == {"agent_id": None, "agent_windows": [2]}
    assert audit[0]["details"] == {"agent_id": agent_id} and audit[0]["previous"] == {"agent_windows": [5]}


async def test_reset_counters_is_audited_and_pushed(start_server: Any) -> None:
    clock = ManualClock(T0)
    server = await start_server("sqlite", clock=clock)
    staffed = await staffed_office(server, agents=2)
    tracker = await server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [staffed.ref]})
    for agent in (staffed.agents[0], staffed.agents[1], staffed.agents[0]):
        await agent.ok(
            "increment_counter", {"ref_office": staffed.ref, "number_window": staffed.agents.index(agent) + 1}
        )
    await staffed.agents[0].ok("no_show", {"ref_office": staffed.ref, "number_window": 1})
    called, _ = await signed_in(server, Role.CLIENT)
    waiting, _ = await signed_in(server, Role.CLIENT)
    assert (await called.ok("take_number", {"ref_office": staffed.ref}))["number"] == 4
    assert (await waiting.ok("take_number", {"ref_office": staffed.ref}))["number"] == 5
    await staffed.agents[1].ok("increment_counter", {"ref_office": staffed.ref, "number_window": 2})
    await called.inbox.wait_for("your_turn")

    await staffed.agents[0].error("reset_counters", {"ref_office": staffed.ref}, "forbidden")
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("reset_counters", {"ref_office": staffed.ref}, "forbidden")
    await other.error("office_audit", {"ref_office": staffed.ref}, "forbidden")
    await staffed.manager.error("reset_counters", {"ref_office": "ref99"}, "not_found")
    assert (await office_state(tracker, staffed.ref))["counter"] == 4

    clock.advance(minutes=5)
    entry = await staffed.manager.ok("reset_counters", {"ref_office": staffed.ref})
    assert entry.pop("message") == "Counters reset successfully"  # the seed's words
    assert entry["by"] == staffed.manager_id and datetime.fromisoformat(entry["at"]) == T0 + timedelta(minutes=5)
    assert entry["previous"]["counter"] == 4
    assert entry["previous"]["windows"] == [
        {"number_window": 1, "served": 1, "no_shows": 1},
        {"number_window": 2, "served": 2, "no_shows": 0},
    ]
    told = await waiting.inbox.wait_for("counters_reset")  # the holder of a waiting number learns it expired
    assert told == {"ref_office": staffed.ref, "number": 5, "status": "expired", "at": told["at"]}
    assert datetime.fromisoformat(told["at"]) == T0 + timedelta(minutes=5)
    await waiting.error("my_position", {"ref_office": staffed.ref}, "not_found")  # no number in the new epoch
    assert called.inbox.of("counters_reset") == []  # number 4 was already called: nothing expired for them
    pushed = await tracker.inbox.wait_for("counter_updated", lambda m: m["counter"] == 0)
    assert pushed == {"ref_office": staffed.ref, "counter": 0, "number_window": None, "at": pushed["at"]}
    assert datetime.fromisoformat(pushed["at"]) == T0 + timedelta(minutes=5)
    state = await office_state(tracker, staffed.ref)
    assert state["counter"] == 0 and [w["current_number"] for w in state["windows"]] == [None, None]
    audit = await staffed.manager.ok("office_audit", {"ref_office": staffed.ref, "limit": 1})
    assert audit["entries"] == [entry]
    again = await staffed.agents[1].ok("increment_counter", {"ref_office": staffed.ref, "number_window": 2})
    assert again["counter"] == 1


async def test_delete_office_tells_trackers_and_holders(server: RunningServer) -> None:
    staffed = await staffed_office(server, agents=1)
    ref = staffed.ref
    tracker = await server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
    holder, _ = await signed_in(server, Role.CLIENT)
    await holder.ok("take_number", {"ref_office": ref})
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("delete_office", {"ref_office": ref}, "forbidden")
    await staffed.agents[0].error("delete_office", {"ref_office": ref}, "forbidden")

    done = await staffed.manager.ok("delete_office", {"ref_office": ref})
    assert done == {
        "message": "office was deleted successfully",
        "ref_office": ref,
        "deleted": True,
        "expired_numbers": 1,
    }
    for client in (tracker, holder, staffed.agents[0]):  # the agent seated there is told too
        gone = await client.inbox.wait_for("office_deleted")
        assert gone["ref_office"] == ref
    for client, event, payload in (
        (staffed.manager, "delete_office", {"ref_office": ref}),
        (staffed.manager, "reset_counters", {"ref_office": ref}),
        (staffed.agents[0], "increment_counter", {"ref_office": ref, "number_window": 1}),
        (holder, "take_number", {"ref_office": ref}),
        (holder, "my_position", {"ref_office": ref}),
        (tracker, "track_offices", {"action": "enable", "ref_offices": [ref]}),
    ):
        error = await client.error(event, payload, "not_found")
        assert "deleted" in error["message"] or error["details"]["ref_offices"] == [ref]
    assert (await staffed.manager.ok("list_my_offices"))["offices"] == []
    assert (await tracker.ok("search_offices", {"q": ref}))["offices"] == []


async def test_office_stats_and_live_stats_for_managers(start_server: Any) -> None:
    clock = ManualClock(T0)
    server = await start_server("sqlite", clock=clock, access_token_minutes=180)  # the staff work over an hour
    staffed = await staffed_office(server, agents=2)
    ref, (one, two) = staffed.ref, staffed.agents
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("watch_office_stats", {"ref_office": ref}, "forbidden")
    await other.error("office_stats", {"ref_office": ref}, "forbidden")
    await one.error("watch_office_stats", {"ref_office": ref}, "forbidden")
    watching = await staffed.manager.ok("watch_office_stats", {"ref_office": ref})
    assert (
        watching["watching"] is True and watching["stats"]["served"] == 0 and watching["stats"]["busiest_hour"] is None
    )

    async def press(agent: Any, window: int, minutes: float) -> None:
        clock.now = T0 + timedelta(minutes=minutes)
        await agent.ok("increment_counter", {"ref_office": ref, "number_window": window})

    await press(one, 1, 0)  # 1 at window 1, served 2 min
    await press(two, 2, 1)  # 2 at window 2, served 4 min
    await press(one, 1, 2)  # 3 at window 1, served 4 min
    await press(two, 2, 5)  # 4 at window 2: no-show
    await two.ok("no_show", {"ref_office": ref, "number_window": 2})
    await press(one, 1, 6)  # 5 at window 1, still serving
    await press(two, 2, 70)  # 6 at window 2, the next hour

    live = await staffed.manager.inbox.wait_for("office_stats_updated", lambda s: s["served"] == 5)
    stats = await staffed.manager.ok("office_stats", {"ref_office": ref})
    assert live == stats
    assert (stats["served"], stats["no_shows"], stats["average_service_seconds"]) == (5, 1, 200.0)
    assert stats["windows"] == [
        {"number_window": 1, "served": 3, "no_shows": 0, "average_service_seconds": 180.0},
        {"number_window": 2, "served": 2, "no_shows": 1, "average_service_seconds": 240.0},
    ]
    assert stats["busiest_hour"] == {"hour": 9, "calls": 5} and stats["calls_by_hour"] == {"9": 5, "10": 1}
    ranged = await staffed.manager.ok(
        "office_stats",
        {"ref_office": ref, "from": (T0 + timedelta(minutes=1)).isoformat(), "to": "2024-05-06T09:30:00"},
    )
    assert (ranged["served"], ranged["no_shows"]) == (3, 1)
    assert ranged["from"] == (T0 + timedelta(minutes=1)).isoformat() and ranged["to"] == "2024-05-06T09:30:00+00:00"
    for bad in (
        {"ref_office": ref, "from": "yesterday"},
        {"ref_office": ref, "from": T0.isoformat(), "to": T0.isoformat()},
    ):
        await staffed.manager.error("office_stats", bad, "invalid_payload")

    await staffed.manager.ok("watch_office_stats", {"ref_office": ref, "action": "disable"})
    seen = len(staffed.manager.inbox.of("office_stats_updated"))
    await press(one, 1, 71)
    await asyncio.sleep(0.2)
    assert len(staffed.manager.inbox.of("office_stats_updated")) == seen


async def test_admin_deletes_agents_and_offices_and_everyone_affected_is_told(any_server: RunningServer) -> None:
    staffed = await staffed_office(any_server, agents=2)
    ref, (one, two) = staffed.ref, staffed.agents
    admin, _ = await signed_in(any_server, Role.ADMIN)
    tracker = await any_server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
    holder, _ = await signed_in(any_server, Role.CLIENT)
    await holder.ok("take_number", {"ref_office": ref})
    await staffed.manager.ok("watch_office_stats", {"ref_office": ref})

    removed = await admin.ok("delete_agent", {"ref_office": ref, "agent_id": staffed.agent_ids[1]})
    assert removed == {
        "message": "Agent deleted successfully",
        "ref_office": ref,
        "agent_id": staffed.agent_ids[1],
        "windows": [2],
    }
    told = await two.inbox.wait_for("agent_removed")
    assert (told["ref_office"], told["agent_id"], told["windows"]) == (ref, staffed.agent_ids[1], [2])
    closed = await tracker.inbox.wait_for("windows_closed")
    assert (closed["ref_office"], closed["windows"]) == (ref, [2]) and "agent_id" not in closed
    assert one.inbox.of("agent_removed") == []
    await two.error("increment_counter", {"ref_office": ref, "number_window": 2}, "forbidden")
    audit = (await admin.ok("office_audit", {"ref_office": ref}))["entries"]
    assert audit[0]["action"] == "delete_agent" and audit[0]["by"] != staffed.manager_id

    done = await admin.ok("delete_office", {"ref_office": ref})
    assert done["message"] == "office was deleted successfully" and done["expired_numbers"] == 1
    for client in (one, tracker, holder, staffed.manager):
        gone = await client.inbox.wait_for("office_deleted")
        assert gone["ref_office"] == ref
    await asyncio.sleep(0.2)
    assert two.inbox.of("office_deleted") == []  # no longer seated there
    assert len(one.inbox.of("office_deleted")) == 1 and len(staffed.manager.inbox.of("office_deleted")) == 1
    await admin.error("delete_office", {"ref_office": ref}, "not_found")


async def test_asking_for_office_stats_subscribes_to_live_stats(server: RunningServer) -> None:
    staffed = await staffed_office(server, agents=1)
    ref = staffed.ref
    admin, _ = await signed_in(server, Role.ADMIN)
    other, _ = await signed_in(server, Role.MANAGER)
    await other.error("office_stats", {"ref_office": ref}, "forbidden")
    for asker in (staffed.manager, admin):
        assert (await asker.ok("office_stats", {"ref_office": ref}))["served"] == 0
    await staffed.agents[0].ok("increment_counter", {"ref_office": ref, "number_window": 1})
    for asker in (staffed.manager, admin):
        live = await asker.inbox.wait_for("office_stats_updated")
        assert (live["ref_office"], live["served"], live["windows"][0]["served"]) == (ref, 1, 1)
    assert other.inbox.of("office_stats_updated") == []  # a refused request joined no room
