"""The widget's live server side: typing and read receipts both ways, idempotent sends, agents online and the
widget's looks, the moving wait estimate, ratings, agents' names and replies emailed to an offline visitor."""

from __future__ import annotations

import asyncio
from typing import Any

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import Client, RunningServer
from tests.notify_doubles import FAST, MailCatcher, body_of, mail  # noqa: F401 (mail is a fixture)
from tests.security.test_widget_token import Site, opened, site_of


async def staff_of(site: Site, role: Role = Role.AGENT, name: str | None = None) -> tuple[Client, dict[str, Any]]:
    """A signed-in agent (or manager) member of the site's workspace."""
    client, info = await signed_in(site.server, role, name)
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]})
    return client, info


async def test_typing_shows_on_the_other_side_both_ways(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "hello")
    ticket_id = answer["ticket"]["_id"]
    agent, info = await staff_of(site, name="Ana Agent")
    await agent.ok("get_ticket", {"ticket_id": ticket_id})  # enters ticket:<id>

    assert await visitor.ok("widget_typing", {"ticket_id": ticket_id, "typing": True}) == {
        "ticket_id": ticket_id,
        "typing": True,
    }
    shown = await agent.inbox.wait_for("typing", lambda t: t["ticket_id"] == ticket_id)
    assert shown == {"ticket_id": ticket_id, "user_id": answer["visitor_id"], "name": "Visitor", "typing": True}

    await agent.ok("typing", {"ticket_id": ticket_id, "typing": True})
    seen = await visitor.inbox.wait_for("widget_agent_typing")
    assert seen == {"ticket_id": ticket_id, "name": info["user"]["name"], "typing": True}
    await agent.ok("typing", {"ticket_id": ticket_id, "typing": False})
    assert (await visitor.inbox.wait_for("widget_agent_typing", lambda t: not t["typing"]))["typing"] is False
    await visitor.error("widget_typing", {"ticket_id": ticket_id, "typing": "yes"}, "invalid_payload")


async def test_read_receipts_go_both_ways(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "hello")
    ticket_id = answer["ticket"]["_id"]
    agent, info = await staff_of(site)
    await agent.ok("get_ticket", {"ticket_id": ticket_id})
    reply = await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "Hi, how can I help?"})
    pushed = await visitor.inbox.wait_for("widget_message", lambda m: m["_id"] == reply["id"])
    assert pushed["author_name"] == info["user"]["name"]

    marker = await visitor.ok("widget_mark_read", {"ticket_id": ticket_id, "message_id": reply["id"]})
    assert (marker["user_id"], marker["message_id"]) == (answer["visitor_id"], reply["id"])
    read = await agent.inbox.wait_for("ticket_read", lambda r: r["user_id"] == answer["visitor_id"])
    assert read["message_id"] == reply["id"]

    mine = [m for m in await visitor.ok("widget_messages", {"ticket_id": ticket_id}) if m["message_data"] == "hello"]
    await agent.ok("mark_read", {"ticket_id": ticket_id, "message_id": mine[0]["_id"]})
    receipt = await visitor.inbox.wait_for("widget_read")
    assert (receipt["ticket_id"], receipt["message_id"]) == (ticket_id, mine[0]["_id"])
    await visitor.error("widget_mark_read", {"ticket_id": ticket_id, "message_id": "f" * 24}, "not_found")

    dowell_read = site.keyed(ticket_id=ticket_id, user_id="lm-ana", product="shop")
    second = await visitor.ok("widget_send", {"ticket_id": ticket_id, "message_data": "still there?"})
    await site.agent.ok("mark_read", dowell_read)  # the Dowell door's read (with the key) is a receipt too
    dowell_receipt = await visitor.inbox.wait_for("widget_read", lambda r: r["message_id"] == second["_id"])
    assert dowell_receipt["ticket_id"] == ticket_id


async def test_a_resend_with_the_same_client_id_is_stored_once(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "first")
    ticket_id = answer["ticket"]["_id"]
    send = {"ticket_id": ticket_id, "message_data": "sent while offline", "client_id": "c-0001-abcdef"}
    answers = await asyncio.gather(*(visitor.call("widget_send", send) for _ in range(5)))
    stored = [a["data"] for a in answers if a["ok"]]
    assert stored and all(a["ok"] or a["error"]["code"] == "conflict" for a in answers), answers
    assert len({m["_id"] for m in stored}) == 1
    again = await visitor.ok("widget_send", send)  # a reconnect's resend, long after
    assert again["_id"] == stored[0]["_id"]
    other = await visitor.ok("widget_send", {**send, "client_id": "c-0002-abcdef"})
    assert other["_id"] != again["_id"]
    history = await site.agent.ok("get_ticket_messages", site.keyed(ticket_id=ticket_id, product="shop"))
    assert [m["message_data"] for m in history] == ["first", "sent while offline", "sent while offline"]
    await visitor.error("widget_send", {**send, "client_id": "short"}, "invalid_payload")
    await visitor.error("widget_send", {**send, "client_id": "no spaces allowed"}, "invalid_payload")


async def test_widget_status_says_whether_agents_are_online_and_how_the_widget_looks(
    any_server: RunningServer,
) -> None:
    site = await site_of(any_server)
    ws = {"workspace_id": site.workspace["id"]}
    token_only = await site.visitor()
    status = await token_only.ok("widget_status")
    assert status == {"agents_online": False, "appearance": {"color": "#2557d6", "title": None}}

    agent, _ = await staff_of(site)
    assert (await token_only.ok("widget_status"))["agents_online"] is True
    await agent.ok("set_status", {"status": "away"})
    assert (await token_only.ok("widget_status"))["agents_online"] is False
    await agent.ok("set_status", {"status": "online"})
    await agent.close()
    for _ in range(100):  # presence is updated when the server sees the socket go
        if not (await token_only.ok("widget_status"))["agents_online"]:
            break
        await asyncio.sleep(0.05)
    assert (await token_only.ok("widget_status"))["agents_online"] is False

    settings = await site.admin.ok("update_widget_settings", {**ws, "color": "#0B5D1E", "title": "Shop help"})
    assert (settings["color"], settings["title"], settings["allowed_origins"]) == ("#0b5d1e", "Shop help", [])
    assert (await token_only.ok("widget_status"))["appearance"] == {"color": "#0b5d1e", "title": "Shop help"}
    kept = await site.admin.ok("update_widget_settings", {**ws, "allowed_origins": ["https://shop.example.com"]})
    assert (kept["color"], kept["title"]) == ("#0b5d1e", "Shop help"), "a field left out keeps its value"
    assert (await site.admin.ok("update_widget_settings", {**ws, "title": ""}))["title"] is None


async def test_a_colour_white_text_cannot_be_read_on_is_refused(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    ws = {"workspace_id": site.workspace["id"]}
    await site.admin.ok("update_widget_settings", {**ws, "color": "#2557d6"})
    for unreadable in ("#ffcc00", "#fff", "#777777", "#ff0000"):  # #767676 is the lightest grey that passes
        error = await site.admin.error("update_widget_settings", {**ws, "color": unreadable}, "invalid_payload")
        assert "contrast" in str(error), error
    for malformed in ("blue", "#12345", "2557d6", "#2557d6ff"):
        await site.admin.error("update_widget_settings", {**ws, "color": malformed}, "invalid_payload")
    await site.admin.error("update_widget_settings", {**ws, "title": "x" * 61}, "invalid_payload")
    assert (await site.admin.ok("update_widget_settings", {**ws, "color": "#767676"}))["color"] == "#767676"
    assert (await site.admin.ok("get_widget_settings", ws))["color"] == "#767676"


async def test_the_wait_estimate_is_pushed_when_the_line_moves(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitors = [await opened(site, f"visitor {n}") for n in range(3)]
    last, last_answer = visitors[2]
    ticket = last_answer["ticket"]["_id"]
    assert (await last.ok("widget_waiting_time", {"ticket_id": ticket}))["tickets_ahead"] == 2
    first_ticket = visitors[0][1]["ticket"]["_id"]
    await site.agent.ok("close_ticket", site.keyed(ticket_id=first_ticket, line_manager="lm-ana", product="shop"))
    moved = await last.inbox.wait_for("widget_wait_changed", lambda w: w["ticket_id"] == ticket)
    assert moved == {"ticket_id": ticket, "tickets_ahead": 1, "waiting_time": 3.0}
    second = visitors[1][0]
    assert (await second.inbox.wait_for("widget_wait_changed"))["tickets_ahead"] == 0
    assert visitors[0][0].inbox.of("widget_wait_changed") == [], "a closed ticket's visitor waits no more"
    await site.agent.ok("reopen_ticket", site.keyed(ticket_id=first_ticket, product="shop"))
    back = await last.inbox.wait_for("widget_wait_changed", lambda w: w["tickets_ahead"] == 2)
    assert back["waiting_time"] == 6.0


async def test_a_closed_conversation_is_rated_once_and_staff_see_the_rating(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    visitor, answer = await opened(site, "help")
    ticket_id = answer["ticket"]["_id"]
    manager, _ = await staff_of(site, Role.MANAGER)
    await manager.ok("get_ticket", {"ticket_id": ticket_id})
    rate = {"ticket_id": ticket_id, "score": 5, "comment": "Quick and kind"}
    await visitor.error("widget_rate", rate, "conflict")  # still open
    await site.agent.ok("close_ticket", site.keyed(ticket_id=ticket_id, line_manager="lm-ana", product="shop"))
    await visitor.inbox.wait_for("widget_ticket_closed")
    for bad in ({**rate, "score": 0}, {**rate, "score": 6}, {**rate, "score": "5"}, {**rate, "comment": "x" * 1001}):
        await visitor.error("widget_rate", bad, "invalid_payload")
    rating = await visitor.ok("widget_rate", rate)
    assert (rating["score"], rating["comment"], rating["visitor_id"]) == (5, "Quick and kind", answer["visitor_id"])
    pushed = await manager.inbox.wait_for("ticket_rated")
    assert pushed == rating
    await visitor.error("widget_rate", {**rate, "score": 1}, "conflict")  # once: the first rating stays
    assert await manager.ok("get_ticket_rating", {"ticket_id": ticket_id}) == rating


async def test_an_agents_reply_to_a_visitor_who_left_an_email_is_emailed(
    start_server: Any,
    mail: MailCatcher,  # noqa: F811
) -> None:
    server = await start_server("sqlite", **mail.settings(), **FAST)
    site = await site_of(server)
    visitor = await site.visitor()
    assert (await visitor.ok("widget_status"))["agents_online"] is False
    left = await visitor.ok("widget_open", {"product": "shop", "email": "eve@example.com"})
    ticket_id = left["ticket"]["_id"]
    await visitor.ok("widget_send", {"ticket_id": ticket_id, "message_data": "Call me back please"})
    await visitor.error("widget_open", {"product": "shop", "email": "not an address"}, "invalid_payload")

    agent, info = await staff_of(site, name="Bo Agent")
    await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "We will call you at 5."})
    [sent] = await mail.wait_count(1)
    assert sent["To"] == "eve@example.com"
    assert "We will call you at 5." in body_of(sent) and info["user"]["name"] in body_of(sent)
    await site.agent.ok(
        "ticket_message_event",
        site.keyed(ticket_id=ticket_id, product="shop", user_id="lm-ana", message_data="And by Dowell too"),
    )
    both = await mail.wait_count(2)
    assert "And by Dowell too" in body_of(both[1])

    quiet = await site.visitor()  # a visitor who left no email gets no email
    plain = await quiet.ok("widget_open", {"product": "shop"})
    await agent.ok("send_ticket_message", {"ticket_id": plain["ticket"]["_id"], "body": "hello"})
    await quiet.inbox.wait_for("widget_message")
    await asyncio.sleep(0.3)
    assert len(mail.messages) == 2
