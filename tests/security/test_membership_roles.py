"""Attack replays: a member's access follows their account's role and active flag, not a stale membership copy."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import Client, RunningServer
from tests.test_helpdesk import Desk, desk, ticket_payload

QUIET = 0.3  # long enough for a push that was sent to arrive


async def closed_by_the_server(socket: Client) -> None:
    """Wait until the server has ended the socket's session and closed it (an account change does)."""
    await socket.inbox.wait_for("session_ended")
    await asyncio.wait_for(socket.sio.wait(), 5)


async def members(d: Desk) -> dict[str, dict[str, Any]]:
    """Return the workspace's members by user id."""
    return {m["user_id"]: m for m in await d.admin.ok("list_workspace_members", {"workspace_id": d.workspace["id"]})}


async def new_session(server: RunningServer, user_id: str) -> Client:
    """Return a socket signed in with a fresh token of ``user_id`` (an account change ends the old sessions)."""
    user = await server.deps.accounts.store.get_user(user_id)
    pair = await server.deps.accounts.issue(user, server.clock())
    return await server.client(token=pair.access_token)


def about(ticket: dict[str, Any]) -> Any:
    """Return a predicate matching the ``ticket_updated`` pushes of ``ticket``."""
    return lambda u: u["ticket"]["id"] == ticket["id"]


async def test_a_manager_demoted_to_a_billing_agent_sees_and_hears_only_billing(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    ws = {"workspace_id": d.workspace["id"]}
    me = d.ids["manager"]
    await d.admin.ok("add_workspace_member", {**ws, "user_id": me, "categories": [d.billing["id"]]})
    await d.manager.ok("subscribe_workspace", ws)
    before = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Before"))
    await d.manager.inbox.wait_for("ticket_updated", about(before))  # a manager sees every category
    await d.manager.ok("get_ticket", {"ticket_id": before["id"]})

    await d.admin.ok("update_user", {"user_id": me, "role": "agent"})
    await closed_by_the_server(d.manager)
    demoted = await new_session(any_server, me)  # signs in as an agent now
    assert (await demoted.ok("me"))["role"] == "agent"
    await demoted.ok("subscribe_workspace", ws)
    tech = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Crash", body="tech secret"))
    billing = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Refund"))
    await demoted.inbox.wait_for("ticket_updated", about(billing))  # pushed to it after the Tech one would be
    await asyncio.sleep(QUIET)
    assert not any(about(t)(u) for t in (tech, before) for u in demoted.inbox.of("ticket_updated"))
    for ticket in (tech, before):
        await demoted.error("get_ticket", {"ticket_id": ticket["id"]}, "not_found")
    listed = {t["id"] for t in (await demoted.ok("list_tickets", {}))["tickets"]}
    assert billing["id"] in listed and not listed & {tech["id"], before["id"]}
    await demoted.ok("get_ticket", {"ticket_id": billing["id"]})
    assert (await members(d))[me]["role"] == "agent"  # the membership follows the account


async def test_a_deactivated_or_declassed_member_is_a_member_nowhere(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=True)
    ws = {"workspace_id": d.workspace["id"]}
    held = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Held"))
    assert held["assignee_id"] == d.ids["billing_agent"]
    await d.admin.ok("deactivate_user", {"user_id": d.ids["billing_agent"]})
    await d.admin.ok("update_user", {"user_id": d.ids["manager"], "role": "client"})
    left = await members(d)
    assert set(left) == {d.ids["any_agent"]}  # neither membership stays behind the account
    handed = (await d.admin.ok("get_ticket", {"ticket_id": held["id"]}))["ticket"]
    assert handed["assignee_id"] == d.ids["any_agent"]  # their active ticket went on to who serves Billing
    fresh = await d.client.ok("submit_ticket", ticket_payload(d.billing, "After"))
    assert fresh["assignee_id"] == d.ids["any_agent"]  # never auto-assigned to a deactivated agent

    await d.admin.ok("update_user", {"user_id": d.ids["billing_agent"], "active": True})  # back, not a member
    back = await new_session(any_server, d.ids["billing_agent"])
    await back.error("subscribe_workspace", ws, "forbidden")
    for ticket in (held, fresh):
        await back.error("get_ticket", {"ticket_id": ticket["id"]}, "not_found")
    assert (await back.ok("list_tickets", {}))["tickets"] == []
    await d.admin.error("add_workspace_member", {**ws, "user_id": d.ids["manager"]}, "invalid_payload")  # a client


async def test_an_inactive_account_cannot_be_made_a_member(any_server: RunningServer) -> None:
    d = await desk(any_server)
    ws = {"workspace_id": d.workspace["id"]}
    await d.admin.ok("remove_workspace_member", {**ws, "user_id": d.ids["any_agent"]})
    await d.admin.ok("deactivate_user", {"user_id": d.ids["any_agent"]})
    await d.admin.error("add_workspace_member", {**ws, "user_id": d.ids["any_agent"]}, "invalid_payload")
    assert d.ids["any_agent"] not in await members(d)
