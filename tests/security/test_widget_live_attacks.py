"""Attacks on the widget's live events: the token alone, another visitor, another workspace's visitor and agent,
an anonymous socket and a removed member each try typing, read receipts, ratings, resends and the settings."""

from __future__ import annotations

import asyncio
from typing import Any

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import Client, RunningServer
from tests.security.test_widget_token import Site, opened, site_of


async def closed_conversation(site: Site) -> tuple[Client, dict[str, Any]]:
    """A visitor whose conversation the agent closed (so it could be rated)."""
    visitor, answer = await opened(site, "my secret order 1234")
    ref = {"ticket_id": answer["ticket"]["_id"], "line_manager": "lm-ana", "product": "shop"}
    await site.agent.ok("close_ticket", site.keyed(**ref))
    await visitor.inbox.wait_for("widget_ticket_closed")
    return visitor, answer


async def refused(client: Client, event: str, payload: Any, codes: set[str]) -> None:
    """Assert the event is refused with one of ``codes``."""
    ack = await client.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] in codes, (event, ack)


async def test_the_token_alone_another_visitor_and_an_anonymous_socket_get_nothing(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    alice, a = await closed_conversation(site)
    ticket_id = a["ticket"]["_id"]
    [message] = await alice.ok("widget_messages", {"ticket_id": ticket_id})
    attempts = [
        ("widget_typing", {"ticket_id": ticket_id, "typing": True}),
        ("widget_mark_read", {"ticket_id": ticket_id, "message_id": message["_id"]}),
        ("widget_rate", {"ticket_id": ticket_id, "score": 1, "comment": "spam"}),
    ]
    token_only = await site.visitor()
    anonymous = await any_server.client()
    mallory, _ = await opened(site, "mallory")  # a visitor of the same workspace
    for event, payload in attempts:
        await token_only.error(event, payload, "unauthorized")
        await anonymous.error(event, payload, "unauthorized")
        await mallory.error(event, payload, "not_found")  # another visitor's ticket is as good as unknown
    await anonymous.error("widget_status", {}, "unauthorized")
    await anonymous.error("get_ticket_rating", {"ticket_id": ticket_id}, "unauthorized")
    assert alice.inbox.of("widget_read") == []

    rating = await alice.ok("widget_rate", {"ticket_id": ticket_id, "score": 4})  # the real one still can
    assert rating["comment"] == "" and rating["score"] == 4
    status = await token_only.ok("widget_status")  # public: whether someone is online and the looks, nothing else
    assert set(status) == {"agents_online", "appearance"}


async def test_a_client_id_is_per_visitor_so_nobody_can_replay_anothers_message(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    alice, a = await opened(site, "alice")
    bob, b = await opened(site, "bob")
    key = "shared-client-id-1"
    alices = await alice.ok("widget_send", {"ticket_id": a["ticket"]["_id"], "message_data": "A", "client_id": key})
    bobs = await bob.ok("widget_send", {"ticket_id": b["ticket"]["_id"], "message_data": "B", "client_id": key})
    assert bobs["_id"] != alices["_id"] and bobs["message_data"] == "B"
    # bob resending alice's client id into alice's ticket is refused like any foreign ticket
    await bob.error(
        "widget_send", {"ticket_id": a["ticket"]["_id"], "message_data": "A", "client_id": key}, "not_found"
    )


async def test_another_workspace_cannot_see_or_touch_the_conversation(start_server: Any, backend: str) -> None:
    server = await start_server(backend)
    site, other = await site_of(server), await site_of(server)
    visitor, answer = await closed_conversation(site)
    ticket_id = answer["ticket"]["_id"]
    stranger, _ = await opened(other, "hello from elsewhere")  # a visitor of another workspace
    await stranger.error("widget_typing", {"ticket_id": ticket_id, "typing": True}, "not_found")
    await stranger.error("widget_rate", {"ticket_id": ticket_id, "score": 1}, "not_found")

    outsider, info = await signed_in(server, Role.AGENT)  # an agent of the other workspace only
    await other.admin.ok("add_workspace_member", {"workspace_id": other.workspace["id"], "user_id": info["user"]["id"]})
    await refused(outsider, "get_ticket_rating", {"ticket_id": ticket_id}, {"not_found", "forbidden"})
    await refused(outsider, "typing", {"ticket_id": ticket_id, "typing": True}, {"not_found", "forbidden"})
    await refused(outsider, "mark_read", {"ticket_id": ticket_id, "message_id": "f" * 24}, {"not_found", "forbidden"})
    await refused(
        outsider,
        "update_widget_settings",
        {"workspace_id": site.workspace["id"], "color": "#000000"},
        {"forbidden"},
    )
    await asyncio.sleep(0.2)
    assert visitor.inbox.of("widget_agent_typing") == [] and visitor.inbox.of("widget_read") == []
    assert (await site.admin.ok("get_widget_settings", {"workspace_id": site.workspace["id"]}))["color"] == "#2557d6"


async def test_a_removed_member_loses_the_rating_and_the_visitor(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await closed_conversation(site)
    ticket_id = answer["ticket"]["_id"]
    await visitor.ok("widget_rate", {"ticket_id": ticket_id, "score": 2, "comment": "slow"})
    agent, info = await signed_in(site.server, Role.AGENT)
    ws = {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]}
    await site.admin.ok("add_workspace_member", ws)
    assert (await agent.ok("get_ticket_rating", {"ticket_id": ticket_id}))["score"] == 2
    assert (await visitor.ok("widget_status"))["agents_online"] is True
    await site.admin.ok("remove_workspace_member", ws)
    await refused(agent, "get_ticket_rating", {"ticket_id": ticket_id}, {"not_found", "forbidden"})
    await refused(agent, "typing", {"ticket_id": ticket_id, "typing": True}, {"not_found", "forbidden"})
    assert (await visitor.ok("widget_status"))["agents_online"] is False, "a former member is no agent of theirs"
    await asyncio.sleep(0.2)
    assert visitor.inbox.of("widget_agent_typing") == []
