"""Attacks on helpdesk_stats: only admins and the workspace's own managers see (and hear of) its activity."""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import new_workspace, signed_in
from tests.helpers import ManualClock
from tests.security.test_widget_token import site_of
from tests.test_helpdesk import desk, ticket_payload
from tests.test_helpdesk_stats import HOUR_MS, around_now


async def test_outsiders_agents_and_other_managers_are_refused(any_server: Any) -> None:
    d = await desk(any_server)
    span = around_now(ManualClock(), d.workspace["id"])
    await (await any_server.client()).error("helpdesk_stats", span, "unauthorized")
    await d.client.error("helpdesk_stats", span, "forbidden")
    await d.billing_agent.error("helpdesk_stats", span, "forbidden")  # a member, but an agent
    other_manager, other_info = await signed_in(any_server, Role.MANAGER)
    other_ws, _ = await new_workspace(d.admin, "Other")
    await d.admin.ok("add_workspace_member", {"workspace_id": other_ws["id"], "user_id": other_info["user"]["id"]})
    await other_manager.error("helpdesk_stats", span, "forbidden")
    await other_manager.ok("helpdesk_stats", {**span, "workspace_id": other_ws["id"]})
    await d.admin.error("helpdesk_stats", {**span, "workspace_id": "f" * 24}, "not_found")
    site = await site_of(any_server)
    visitor = await site.visitor()
    await visitor.error("helpdesk_stats", {**span, "workspace_id": site.workspace["id"]}, "unauthorized")

    bad = [
        {**span, "to": span["from"]},
        {**span, "to": span["from"] + 367 * 24 * HOUR_MS},
        {**span, "from": -1},
        {"workspace_id": d.workspace["id"], "to": span["to"]},
        {**span, "extra": 1},
        {**span, "from": "yesterday"},
    ]
    for payload in bad:
        await d.manager.error("helpdesk_stats", payload, "invalid_payload")


async def test_a_removed_manager_stops_hearing_and_seeing(any_server: Any) -> None:
    d = await desk(any_server)
    span = around_now(ManualClock(), d.workspace["id"])
    await d.manager.ok("helpdesk_stats", span)
    await d.admin.ok("helpdesk_stats", span)
    await d.client.ok("submit_ticket", ticket_payload(d.billing))
    await d.manager.inbox.wait_for("helpdesk_stats_updated")
    await d.admin.inbox.wait_for("helpdesk_stats_updated")

    await d.admin.ok("remove_workspace_member", {"workspace_id": d.workspace["id"], "user_id": d.ids["manager"]})
    await d.manager.error("helpdesk_stats", span, "forbidden")
    await d.client.ok("submit_ticket", ticket_payload(d.billing, "Second"))
    await d.admin.inbox.wait_count("helpdesk_stats_updated", 2)
    assert len(d.manager.inbox.of("helpdesk_stats_updated")) == 1  # the socket is still in its room: not pushed to
