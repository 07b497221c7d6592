"""Attack replays from outside a workspace: an anonymous socket, and the holders of another workspace's secrets.

Site B is a real customer of the same server. Its admin-issued back-office key, its public widget token, its
visitors and its manager all try to reach site A's tickets, messages, uploads and settings, and are refused.
"""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import keyed, signed_in
from tests.helpers import RunningServer
from tests.security.test_widget_token import Site, opened, site_of, widget_headers
from tests.test_attachments import download, upload


async def test_another_workspaces_key_and_visitors_reach_nothing_of_this_one(any_server: RunningServer) -> None:
    a, b = await site_of(any_server), await site_of(any_server)
    _, theirs = await opened(a, "A's private question")
    ticket = theirs["ticket"]
    status, file = await upload(any_server, widget_headers(a, theirs["visitor_secret"]), b"A's invoice", "text/plain")
    assert status == 201, file
    ref = {"ticket_id": ticket["_id"], "product": "shop"}

    # B's key named with A's workspace id: the key does not open A
    b_key_as_a = keyed(a.workspace, b.key)
    for event, payload in [
        ("get_tickets", {**b_key_as_a, "product": "shop"}),
        ("get_ticket_messages", {**b_key_as_a, **ref}),
        ("close_ticket", {**b_key_as_a, **ref, "line_manager": "lm-ana"}),
        (
            "create_line_manager",
            {**b_key_as_a, "user_id": "lm-evil", "positions_in_a_line": 0, "average_serving_time": 0},
        ),
    ]:
        await b.agent.error(event, payload, "unauthorized")

    # B's key in its own workspace, naming A's ticket: as if it did not exist
    for event, payload in [
        ("get_ticket_messages", b.keyed(**ref)),
        ("ticket_message_event", b.keyed(**ref, message_data="phish", user_id="lm-ana")),
        ("close_ticket", b.keyed(**ref, line_manager="lm-ana")),
    ]:
        await b.agent.error(event, payload, "not_found")
    b_tickets = await b.agent.ok("get_tickets", b.keyed(product="shop"))
    assert ticket["_id"] not in {t["_id"] for t in b_tickets}

    # B's key over HTTP, and a visitor of B, cannot download A's upload
    b_key_headers = {"X-Workspace-Id": b.workspace["id"], "X-Api-Key": b.key}
    assert (await download(any_server, file["id"], b_key_headers))[0] == 404
    b_visitor, b_answer = await opened(b, "hello from B")
    assert (await download(any_server, file["id"], widget_headers(b, b_answer["visitor_secret"])))[0] == 404

    # a visitor of B cannot read or write A's ticket, nor use A's visitor secret with B's token
    await b_visitor.error("widget_messages", {"ticket_id": ticket["_id"]}, "not_found")
    await b_visitor.error("widget_send", {"ticket_id": ticket["_id"], "message_data": "x"}, "not_found")
    assert (await download(any_server, file["id"], widget_headers(b, theirs["visitor_secret"])))[0] == 401

    # A's conversation is untouched
    history = await a.agent.ok("get_ticket_messages", a.keyed(**ref))
    assert [m["message_data"] for m in history] == ["A's private question"]
    assert (await a.agent.ok("get_tickets", a.keyed(product="shop")))[0]["is_closed"] is False


async def test_another_workspaces_manager_cannot_touch_this_ones_settings(any_server: RunningServer) -> None:
    a, b = await site_of(any_server), await site_of(any_server)
    manager, info = await signed_in(any_server, Role.MANAGER)
    await b.admin.ok("add_workspace_member", {"workspace_id": b.workspace["id"], "user_id": info["user"]["id"]})
    assert (await manager.ok("get_widget_settings", {"workspace_id": b.workspace["id"]}))["widget_token"] == b.token
    target = {"workspace_id": a.workspace["id"]}
    for event, payload in [
        ("get_widget_settings", target),
        ("rotate_widget_token", target),
        ("rotate_identity_secret", target),
        ("update_widget_settings", {**target, "allowed_origins": ["https://evil.example"]}),
        ("list_workspace_members", target),
    ]:
        await manager.error(event, payload, "forbidden")
    assert (await a.admin.ok("get_widget_settings", target))["widget_token"] == a.token


async def test_an_anonymous_socket_gets_nothing_signed_in(any_server: RunningServer) -> None:
    a: Site = await site_of(any_server)
    anonymous = await any_server.client()
    ws: dict[str, Any] = {"workspace_id": a.workspace["id"]}
    for event, payload in [
        ("me", None),
        ("list_users", {}),
        ("create_workspace", {"name": "Mine"}),
        ("list_workspaces", {}),
        ("get_widget_settings", ws),
        ("rotate_widget_token", ws),
        ("list_tickets", {}),
        ("subscribe_workspace", ws),
        ("fetch_tickets", {}),
        ("increment_counter", {"office_id": "ref01", "window": 1}),
        ("logout", {}),
    ]:
        await anonymous.error(event, payload, "unauthorized")
    await anonymous.error("widget_open", {"product": "shop"}, "unauthorized")  # not a widget socket
    assert (await a.admin.ok("get_widget_settings", ws))["widget_token"] == a.token
