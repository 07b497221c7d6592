"""Attack replays: staff lose every helpdesk ticket with their membership, and pushes reach only who may see."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.roles import Role
from tests import test_instances
from tests.helpers import RunningServer
from tests.test_attachments import bearer, download, upload
from tests.test_helpdesk import Desk, desk, ticket_payload
from tests.test_instances import HEARTBEAT, Cluster

QUIET = 0.3  # long enough for a push that was sent to arrive
cluster = test_instances.cluster  # the two-process fixture, found by name


async def assigned_then_finished(d: Desk) -> dict[str, Any]:
    """Give billing_agent a resolved and a closed ticket with uploads of the client and the agent."""
    server = d.server
    _, from_client = await upload(server, bearer({"access_token": d.tokens["client"]}), b"client log", "text/plain")
    resolved = await d.client.ok("submit_ticket", ticket_payload(d.billing, "R", attachments=[from_client["id"]]))
    closed = await d.client.ok("submit_ticket", ticket_payload(d.billing, "C"))
    for ticket in (resolved, closed):
        await d.manager.ok("reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": d.ids["billing_agent"]})
    _, from_agent = await upload(
        server, bearer({"access_token": d.tokens["billing_agent"]}), b"agent fix", "text/plain"
    )
    message = await d.billing_agent.ok(
        "send_ticket_message", {"ticket_id": resolved["id"], "body": "fixed", "attachments": [from_agent["id"]]}
    )
    for ticket, status in ((resolved, "resolved"), (closed, "resolved"), (closed, "closed")):
        await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": status})
    return {"resolved": resolved, "closed": closed, "message": message, "files": [from_client["id"], from_agent["id"]]}


async def lose_membership(d: Desk, how: str) -> None:
    """Remove billing_agent from the workspace, or delete the workspace."""
    ws = {"workspace_id": d.workspace["id"]}
    if how == "removed":
        await d.admin.ok("remove_workspace_member", {**ws, "user_id": d.ids["billing_agent"]})
    else:
        await d.admin.ok("delete_workspace", ws)


@pytest.mark.parametrize("how", ["removed", "deleted"])
async def test_former_staff_lose_their_finished_tickets_on_every_path(any_server: RunningServer, how: str) -> None:
    d = await desk(any_server, auto_assign=False)
    held = await assigned_then_finished(d)
    agent, me = d.billing_agent, d.ids["billing_agent"]
    assert {t["id"] for t in (await agent.ok("list_tickets", {"assignee_id": me}))["tickets"]} == {
        held["resolved"]["id"],
        held["closed"]["id"],
    }
    await lose_membership(d, how)

    for ticket in (held["resolved"], held["closed"]):
        tid = {"ticket_id": ticket["id"]}
        await agent.error("get_ticket", tid, "not_found")
        await agent.error("send_ticket_message", {**tid, "body": "still here"}, "not_found")
        await agent.error("set_ticket_status", {**tid, "status": "open"}, "not_found")
        await agent.error("typing", {**tid, "typing": True}, "not_found")
        await agent.error("mark_read", {**tid, "message_id": held["message"]["id"]}, "not_found")
        await agent.error("reassign_ticket", {**tid, "assignee_id": me}, "not_found")
    for filters in ({}, {"assignee_id": me}, {"status": "resolved"}, {"status": "closed"}):
        assert (await agent.ok("list_tickets", filters))["tickets"] == []
    assert (await agent.ok("list_tickets", {"workspace_id": d.workspace["id"]}))["tickets"] == []
    agent_auth = bearer({"access_token": d.tokens["billing_agent"]})
    for file_id in held["files"]:  # the client's upload in the ticket, and the agent's own in their reply
        assert (await download(any_server, file_id, agent_auth))[0] == 404

    # the client keeps their own tickets (ownership, not membership), and both files with them
    view = await d.client.ok("get_ticket", {"ticket_id": held["resolved"]["id"]})
    assert [m["id"] for m in view["messages"]] == [held["message"]["id"]]
    client_auth = bearer({"access_token": d.tokens["client"]})
    assert [(await download(any_server, f, client_auth))[1] for f in held["files"]] == [b"client log", b"agent fix"]
    assert len((await d.client.ok("list_tickets", {}))["tickets"]) == 2
    if how == "removed":  # the remaining members still see them
        await d.manager.ok("get_ticket", {"ticket_id": held["closed"]["id"]})
        assert (await download(any_server, held["files"][1], bearer({"access_token": d.tokens["manager"]})))[0] == 200


async def test_a_removed_assignee_hears_nothing_more_of_their_finished_tickets(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    held = await assigned_then_finished(d)
    only_user_room = await any_server.client(token=d.tokens["billing_agent"])  # never opened a ticket
    await lose_membership(d, "removed")
    tid = {"ticket_id": held["resolved"]["id"]}
    reply = await d.client.ok("send_ticket_message", {**tid, "body": "it broke again"})
    await d.client.ok("set_ticket_status", {**tid, "status": "closed"})
    await d.manager.ok("get_ticket", tid)
    await d.client.ok("typing", {**tid, "typing": True})
    await d.manager.inbox.wait_for("typing")  # a current member still hears the ticket
    await asyncio.sleep(QUIET)
    for socket in (d.billing_agent, only_user_room):
        assert not any(m["message"]["id"] == reply["id"] for m in socket.inbox.of("ticket_message"))
        assert not any(
            u["ticket"]["id"] == tid["ticket_id"] and u["ticket"]["status"] == "closed"
            for u in socket.inbox.of("ticket_updated")
        )
        assert not any(n["kind"] in ("ticket_reply", "ticket_status") for n in socket.inbox.of("notification"))
        assert socket.inbox.of("typing") == []


async def test_created_pushes_reach_only_the_subscribers_who_may_see_the_category(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    ws = {"workspace_id": d.workspace["id"]}
    for who in (d.admin, d.manager, d.billing_agent, d.any_agent):
        await who.ok("subscribe_workspace", ws)
    tech = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Crash", body="secret tech details"))
    is_tech = lambda u: u["ticket"]["id"] == tech["id"]  # noqa: E731
    for who in (d.admin, d.manager, d.any_agent):
        assert (await who.inbox.wait_for("ticket_updated", is_tech))["change"] == "created"
    billing = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Refund"))
    await d.billing_agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == billing["id"])
    await asyncio.sleep(QUIET)
    assert not any(is_tech(u) for u in d.billing_agent.inbox.of("ticket_updated"))  # Billing only: no Tech ticket


async def test_a_removed_members_subscription_ends_with_the_membership(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    ws = {"workspace_id": d.workspace["id"]}
    for who in (d.billing_agent, d.any_agent):
        await who.ok("subscribe_workspace", ws)
    await d.admin.ok("remove_workspace_member", {**ws, "user_id": d.ids["any_agent"]})
    await d.any_agent.error("subscribe_workspace", ws, "forbidden")
    await d.admin.ok("add_workspace_member", {**ws, "user_id": d.ids["any_agent"]})  # back, but not subscribed
    first = await d.client.ok("submit_ticket", ticket_payload(d.billing, "First"))
    await d.billing_agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == first["id"])
    await asyncio.sleep(QUIET)
    assert not any(u["ticket"]["id"] == first["id"] for u in d.any_agent.inbox.of("ticket_updated"))
    await d.any_agent.ok("subscribe_workspace", ws)
    second = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Second"))
    await d.any_agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == second["id"])


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_a_removal_on_one_instance_evicts_the_members_sockets_on_the_other(cluster: Cluster) -> None:
    _, admin_token = await cluster.user(Role.ADMIN, "Ada")
    agent_id, agent_token = await cluster.user(Role.AGENT, "Agnes")
    peer_id, peer_token = await cluster.user(Role.AGENT, "Pat")
    _, client_token = await cluster.user(name="Cleo")
    admin, client = await cluster.client(cluster.a, admin_token), await cluster.client(cluster.a, client_token)
    workspace = (await admin.ok("create_workspace", {"name": "Acme", "auto_assign": False}))["workspace"]
    ws = {"workspace_id": workspace["id"]}
    tech = await admin.ok("create_category", {**ws, "name": "Tech"})
    for user_id in (agent_id, peer_id):
        await admin.ok("add_workspace_member", {**ws, "user_id": user_id})
    agent, peer = await cluster.client(cluster.b, agent_token), await cluster.client(cluster.b, peer_token)

    async def submit(title: str) -> dict[str, Any]:
        return await client.ok("submit_ticket", {"category_id": tech["id"], "title": title, "body": "secret"})

    def about(ticket: dict[str, Any]) -> Any:
        return lambda u: u["ticket"]["id"] == ticket["id"]

    for who in (agent, peer):
        await who.ok("subscribe_workspace", ws)
    first = await submit("First")
    for who in (agent, peer):
        await who.inbox.wait_for("ticket_updated", about(first))
        await who.ok("get_ticket", {"ticket_id": first["id"]})
    await asyncio.sleep(HEARTBEAT)  # both instances have registered their sockets

    await admin.ok("remove_workspace_member", {**ws, "user_id": agent_id})  # on A; the agent's socket is on B
    await admin.ok("add_workspace_member", {**ws, "user_id": agent_id})  # back, yet the old socket stays out
    second = await submit("Second")
    await client.ok("send_ticket_message", {"ticket_id": first["id"], "body": "anyone?"})
    await peer.inbox.wait_for("ticket_updated", about(second))
    await peer.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "anyone?")
    await asyncio.sleep(QUIET)
    assert not any(about(second)(u) for u in agent.inbox.of("ticket_updated"))  # out of the subscription rooms
    assert agent.inbox.of("ticket_message") == []  # and out of the ticket's room
    await agent.ok("subscribe_workspace", ws)  # a current member may subscribe again
    third = await submit("Third")
    await agent.inbox.wait_for("ticket_updated", about(third))

    for who in (agent, peer):
        await who.ok("get_ticket", {"ticket_id": third["id"]})
    await admin.ok("delete_workspace", ws)  # on A: every member's sockets on B leave its tickets' rooms
    await client.ok("send_ticket_message", {"ticket_id": third["id"], "body": "hello?"})
    await client.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "hello?")
    await asyncio.sleep(QUIET)
    for who in (agent, peer):
        assert not any(m["message"]["body"] == "hello?" for m in who.inbox.of("ticket_message"))
        await who.error("get_ticket", {"ticket_id": third["id"]}, "not_found")


async def test_an_agent_reassigned_out_of_sight_gets_no_more_of_the_ticket(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    tech = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Crash"))
    tid = {"ticket_id": tech["id"]}
    await d.manager.ok("reassign_ticket", {**tid, "assignee_id": d.ids["billing_agent"]})
    await d.billing_agent.ok("get_ticket", tid)  # in ticket:<id> and user:<id>; Billing only, so seen as assignee
    await d.manager.ok("reassign_ticket", {**tid, "assignee_id": d.ids["any_agent"]})
    await d.client.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["assignee_id"] == d.ids["any_agent"])
    await asyncio.sleep(QUIET)
    assert not any(u["ticket"]["assignee_id"] == d.ids["any_agent"] for u in d.billing_agent.inbox.of("ticket_updated"))
    await d.billing_agent.error("get_ticket", tid, "not_found")
