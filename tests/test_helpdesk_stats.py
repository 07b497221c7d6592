"""helpdesk_stats over a real server: the figures of live tickets, and the debounced live signal."""

from __future__ import annotations

from typing import Any

from tests.helpers import Inbox, ManualClock
from tests.test_helpdesk import desk, ticket_payload

HOUR_MS = 3_600_000


async def changes_heard(inbox: Inbox, count: int) -> list[Any]:
    """Return the ``helpdesk_stats_updated`` pushes once they account for ``count`` changes."""
    every = inbox.of("helpdesk_stats_updated")
    while sum(p["changes"] for p in every) < count:
        await inbox.wait_count("helpdesk_stats_updated", len(every) + 1)
        every = inbox.of("helpdesk_stats_updated")
    return every


def around_now(clock: ManualClock, workspace_id: str) -> dict[str, Any]:
    now = int(clock().timestamp() * 1000)
    return {"workspace_id": workspace_id, "from": now - HOUR_MS, "to": now + HOUR_MS}


async def test_a_manager_sees_the_activity_and_hears_when_it_changes(start_server: Any, backend: str) -> None:
    clock = ManualClock()
    server = await start_server(backend, clock=clock, helpdesk_stats_debounce_seconds=0.3, access_token_minutes=60)
    d = await desk(server)
    span = around_now(clock, d.workspace["id"])
    empty = await d.manager.ok("helpdesk_stats", span)  # also starts watching
    assert (empty["opened"], empty["agents"], empty["from"], empty["to"]) == (0, [], span["from"], span["to"])

    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    clock.advance(minutes=3)
    await d.billing_agent.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "On it"})
    clock.advance(minutes=7)
    await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": "resolved"})
    clock.advance(minutes=5)
    await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "Thanks!"})  # not a resolution
    await d.client.ok("submit_ticket", ticket_payload(d.tech, "Another"))

    pushes = await d.manager.inbox.wait_for("helpdesk_stats_updated")
    assert pushes["workspace_id"] == d.workspace["id"]
    stats = await d.manager.ok("helpdesk_stats", span)
    assert (stats["opened"], stats["resolved"], stats["closed"]) == (2, 1, 0)
    assert stats["backlog"] == {"open": 1, "resolved": 1}
    assert stats["first_response"] == {"count": 1, "median_ms": 180_000, "p90_ms": 180_000}
    assert stats["resolution"] == {"count": 1, "median_ms": 600_000, "p90_ms": 600_000}
    billing = next(a for a in stats["agents"] if a["agent_id"] == d.ids["billing_agent"])
    assert (billing["name"], billing["opened"], billing["resolved"]) == ("billing_agent", 1, 1)

    every = await changes_heard(d.manager.inbox, 5)  # created, message, status, message, created
    assert sum(p["changes"] for p in every) == 5


async def test_changes_in_one_quiet_period_make_one_push(start_server: Any) -> None:
    server = await start_server("sqlite", helpdesk_stats_debounce_seconds=4)
    d = await desk(server)
    await d.manager.ok("helpdesk_stats", around_now(ManualClock(), d.workspace["id"]))
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    await d.billing_agent.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "On it"})
    await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": "pending"})
    first = await d.manager.inbox.wait_for("helpdesk_stats_updated")
    assert first["changes"] == 3  # the three changes came well within 4 s of the first one
    await d.manager.ok("unwatch_helpdesk_stats", {"workspace_id": d.workspace["id"]})
    await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": "open"})
    admin_span = around_now(ManualClock(), d.workspace["id"])
    await d.admin.ok("helpdesk_stats", admin_span)  # the admin watches; the manager no longer does
    await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": "closed"})
    await d.admin.inbox.wait_for("helpdesk_stats_updated")
    assert len(d.manager.inbox.of("helpdesk_stats_updated")) == 1
