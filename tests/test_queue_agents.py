"""Queue offices, the agents' events: increment_counter (atomic on every backend), recall, no_show."""

from __future__ import annotations

import asyncio
from datetime import datetime

from models.roles import Role
from tests.conftest import REAL_MONGO, signed_in
from tests.helpers import RunningServer
from tests.queue_helpers import office_state, staffed_office


async def test_increment_acks_the_number_and_pushes_it(any_server: RunningServer) -> None:
    staffed = await staffed_office(any_server, agents=2)
    tracker = await any_server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [staffed.ref]})
    first = await staffed.agents[1].ok("increment_counter", {"ref_office": staffed.ref, "number_window": 2})
    assert first["counter"] == 1 and first["number_window"] == 2
    pushed = await tracker.inbox.wait_for("counter_updated")
    assert pushed == {"ref_office": staffed.ref, "counter": 1, "number_window": 2, "at": pushed["at"]}
    assert datetime.fromisoformat(pushed["at"]) == datetime.fromisoformat(first["at"])
    second = await staffed.agents[0].ok("increment_counter", {"ref_office": staffed.ref, "number_window": 1})
    assert second["counter"] == 2
    await tracker.inbox.wait_for("counter_updated", lambda m: m["counter"] == 2 and m["number_window"] == 1)
    state = await office_state(tracker, staffed.ref)
    assert state["counter"] == 2
    assert [(w["open"], w["current_number"]) for w in state["windows"]] == [(True, 2), (True, 1)]


async def test_only_the_seated_agent_may_press(server: RunningServer) -> None:
    staffed = await staffed_office(server, agents=2)
    ref = staffed.ref
    client, _ = await signed_in(server, Role.CLIENT)
    stranger, _ = await signed_in(server, Role.AGENT)
    anonymous = await server.client()
    press = {"ref_office": ref, "number_window": 1}
    for event in ("increment_counter", "recall", "no_show"):
        await client.error(event, press, "forbidden")
        await staffed.manager.error(event, press, "forbidden")
        await anonymous.error(event, press, "unauthorized")
        await stranger.error(event, press, "forbidden")
        await staffed.agents[1].error(event, press, "forbidden")
        await staffed.agents[0].error(event, {"ref_office": ref, "number_window": 9}, "not_found")
        await staffed.agents[0].error(event, {"ref_office": "ref99", "number_window": 1}, "not_found")
        for bad in (
            {"ref_office": ref, "number_window": "1"},
            {"ref_office": ref, "number_window": 0},
            {"ref_office": ref, "number_window": 1.5},
            {"ref_office": ref},
            {"ref_office": ref, "number_window": 1, "extra": True},
            {"ref_office": "", "number_window": 1},
            [ref, 1],
        ):
            await staffed.agents[0].error(event, bad, "invalid_payload")
    assert (await office_state(client, ref))["counter"] == 0  # nothing was written
    stats = await staffed.manager.ok("office_stats", {"ref_office": ref})
    assert stats["served"] == 0 and stats["no_shows"] == 0
    await staffed.manager.ok("delete_agent", {"ref_office": ref, "agent_id": staffed.agent_ids[0]})
    await staffed.agents[0].error("increment_counter", press, "forbidden")  # removed: no longer at the window


async def test_recall_and_no_show(server: RunningServer) -> None:
    staffed = await staffed_office(server, agents=1)
    ref, agent = staffed.ref, staffed.agents[0]
    window = {"ref_office": ref, "number_window": 1}
    tracker = await server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [ref]})
    holder, _ = await signed_in(server, Role.CLIENT)
    await holder.ok("take_number", {"ref_office": ref})
    await agent.error("recall", window, "conflict")
    await agent.error("no_show", window, "conflict")

    await agent.ok("increment_counter", window)
    await holder.inbox.wait_for("your_turn")
    recalled = await agent.ok("recall", window)
    assert recalled == {"ref_office": ref, "number": 1, "number_window": 1, "recalls": 1}
    pushed = await tracker.inbox.wait_for("number_recalled")
    assert pushed["number"] == 1 and pushed["recalls"] == 1
    again = await holder.inbox.wait_for("your_turn", lambda m: m["recalls"] == 1)
    assert again["number"] == 1 and again["number_window"] == 1

    skipped = await agent.ok("no_show", window)
    assert skipped == {"ref_office": ref, "number": 1, "number_window": 1}
    assert (await tracker.inbox.wait_for("number_no_show"))["number"] == 1
    missed = await holder.inbox.wait_for("your_turn_missed")
    assert missed["number"] == 1
    note = await holder.inbox.wait_for("notification", lambda n: n["kind"] == "queue.your_turn_missed")
    assert note["data"]["number"] == 1
    assert (await holder.ok("my_position", {"ref_office": ref}))["status"] == "no_show"
    await agent.error("no_show", window, "conflict")
    await agent.error("recall", window, "conflict")
    state = await office_state(tracker, ref)
    assert state["counter"] == 1 and state["windows"][0]["current_number"] is None
    stats = await staffed.manager.ok("office_stats", {"ref_office": ref})
    assert (stats["served"], stats["no_shows"]) == (0, 1)


async def test_concurrent_increments_issue_every_number_once(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    """50 presses from 5 agents at once (15 from 3 on secantusdb): counter exact, every number once."""
    agents, presses = (5, 10) if backend == "sqlite" or REAL_MONGO else (3, 5)
    server = await start_server(backend)
    staffed = await staffed_office(server, agents=agents)
    tracker = await server.client()
    await tracker.ok("track_offices", {"action": "enable", "ref_offices": [staffed.ref]})

    async def press(i: int) -> list[int]:
        window = {"ref_office": staffed.ref, "number_window": i + 1}
        return [(await staffed.agents[i].ok("increment_counter", window))["counter"] for _ in range(presses)]

    got = await asyncio.gather(*(press(i) for i in range(agents)))
    total = agents * presses
    assert sorted(n for numbers in got for n in numbers) == list(range(1, total + 1))
    assert all(numbers == sorted(numbers) for numbers in got)
    pushes = await tracker.inbox.wait_count("counter_updated", total)
    assert sorted(p["counter"] for p in pushes) == list(range(1, total + 1))
    for i, numbers in enumerate(got):
        assert {p["counter"] for p in pushes if p["number_window"] == i + 1} == set(numbers)
    assert (await office_state(tracker, staffed.ref))["counter"] == total
    stats = await staffed.manager.ok("office_stats", {"ref_office": staffed.ref})
    assert stats["served"] == total
    assert [w["served"] for w in stats["windows"]] == [presses] * agents
