"""A signed-in agent's answer to a widget or Dowell ticket may carry attachments: linked with the message in one
transaction, downloadable by the ticket's visitor and the workspace's key holders, and by nobody else."""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import new_workspace, signed_in
from tests.helpers import Client, RunningServer
from tests.security.test_widget_token import Site, opened, site_of, widget_headers
from tests.test_attachments import bearer, download, upload


async def member_agent(site: Site, **member: Any) -> tuple[Client, dict[str, Any]]:
    """Return an agent socket (and its sign-in) that is a member of the site's workspace."""
    agent, info = await signed_in(site.server, Role.AGENT)
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]})
    return agent, info


async def test_an_agents_attachment_reaches_the_visitor_and_the_key_holder_only(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "the app crashes")
    ticket_id, secret = answer["ticket"]["_id"], answer["visitor_secret"]
    agent, info = await member_agent(site)
    status, file = await upload(any_server, bearer(info), b"crash log", "text/plain", "log.txt")
    assert status == 201, file

    reply = await agent.ok(
        "send_ticket_message", {"ticket_id": ticket_id, "body": "see log", "attachments": [file["id"]]}
    )
    assert reply["attachments"] == [file["id"]]
    live = await visitor.inbox.wait_for("widget_message", lambda m: m["_id"] == reply["id"])
    assert live["attachments"] == [file["id"]]
    history = await site.agent.ok("get_ticket_messages", site.keyed(ticket_id=ticket_id, product="shop"))
    assert history[-1]["attachments"] == [file["id"]]

    key_headers = {"X-Workspace-Id": site.workspace["id"], "X-Api-Key": site.key}
    for allowed in (widget_headers(site, secret), key_headers, bearer(info)):
        status, body, _ = await download(any_server, file["id"], allowed)
        assert (status, body) == (200, b"crash log")

    # another visitor of the same site, another workspace's key, an agent of no workspace: nothing
    _, theirs = await opened(site, "me too")
    other_visitor = widget_headers(site, theirs["visitor_secret"])
    other_ws, other_key = await new_workspace(site.admin, name="Other")
    other_keyed = {"X-Workspace-Id": other_ws["id"], "X-Api-Key": other_key}
    _, stranger = await signed_in(any_server, Role.AGENT)
    for refused in (other_visitor, other_keyed, bearer(stranger), {"X-Widget-Token": site.token}, {}):
        assert (await download(any_server, file["id"], refused))[0] in (401, 404), refused
    # once linked it cannot be linked again, at any door
    again = {"ticket_id": ticket_id, "body": "again", "attachments": [file["id"]]}
    await agent.error("send_ticket_message", again, "not_found")  # no longer an unlinked upload of theirs


async def test_a_refused_attachment_writes_no_message(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    ticket = await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    agent, info = await member_agent(site)
    other, other_info = await member_agent(site)
    _, theirs = await upload(any_server, bearer(other_info), b"not yours", "text/plain", "x.txt")
    _, mine = await upload(any_server, bearer(info), b"mine", "text/plain", "m.txt")
    said = {"ticket_id": ticket["_id"], "body": "two files", "attachments": [mine["id"], theirs["id"]]}
    await agent.error("send_ticket_message", said, "not_found")  # someone else's upload
    view = await agent.ok("get_ticket", {"ticket_id": ticket["_id"]})
    assert view["messages"] == []
    assert await site.agent.ok("get_ticket_messages", site.keyed(ticket_id=ticket["_id"], product="shop")) == []
    # mine was not linked: it can still go in, alone, and the key holder downloads it
    await agent.ok("send_ticket_message", {**said, "attachments": [mine["id"]]})
    key_headers = {"X-Workspace-Id": site.workspace["id"], "X-Api-Key": site.key}
    assert (await download(any_server, mine["id"], key_headers))[:2] == (200, b"mine")
    assert (await download(any_server, theirs["id"], key_headers))[0] == 404
    del other
