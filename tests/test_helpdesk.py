"""The signed-in helpdesk for each role, through real sockets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from models.roles import Role
from tests.helpdesk_kit import admin_of, new_workspace, signed_in
from tests.helpers import Client, ManualClock, RunningServer


@dataclass
class Desk:
    """A workspace with a manager, two agents (one only for billing), two categories and a client."""

    server: RunningServer
    admin: Client
    workspace: dict[str, Any]
    manager: Client
    billing_agent: Client
    any_agent: Client
    client: Client
    ids: dict[str, str]
    tokens: dict[str, str]
    billing: dict[str, Any]
    tech: dict[str, Any]


async def desk(server: RunningServer, **settings: Any) -> Desk:
    admin = await admin_of(server)
    workspace, _ = await new_workspace(admin, **settings)
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    users: dict[str, Client] = {}
    for name, role in (("manager", Role.MANAGER), ("billing_agent", Role.AGENT), ("any_agent", Role.AGENT)):
        users[name], info = await signed_in(server, role, name=name)
        ids[name], tokens[name] = info["user"]["id"], info["access_token"]
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": ids["manager"]})
    billing = await users["manager"].ok("create_category", {"workspace_id": workspace["id"], "name": "Billing"})
    tech = await users["manager"].ok("create_category", {"workspace_id": workspace["id"], "name": "Tech"})
    await admin.ok(
        "add_workspace_member",
        {"workspace_id": workspace["id"], "user_id": ids["billing_agent"], "categories": [billing["id"]]},
    )
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": ids["any_agent"]})
    client, info = await signed_in(server, Role.CLIENT, name="client")
    ids["client"], tokens["client"] = info["user"]["id"], info["access_token"]
    return Desk(server, admin, workspace, client=client, ids=ids, tokens=tokens, billing=billing, tech=tech, **users)  # type: ignore[arg-type]


def ticket_payload(category: dict[str, Any], title: str = "Refund", **extra: Any) -> dict[str, Any]:
    return {"category_id": category["id"], "title": title, "body": "I was charged twice", **extra}


async def loads(d: Desk) -> dict[str, int]:
    members = await d.admin.ok("list_workspace_members", {"workspace_id": d.workspace["id"]})
    return {m["user_id"]: m["load"] for m in members}


async def test_client_agent_flow_end_to_end(any_server: RunningServer) -> None:
    d = await desk(any_server)
    await d.manager.ok("subscribe_workspace", {"workspace_id": d.workspace["id"]})
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    assert (ticket["status"], ticket["client_id"], ticket["assignee_id"]) == (
        "open",
        d.ids["client"],
        d.ids["billing_agent"],
    )
    created = await d.billing_agent.inbox.wait_for("ticket_updated")
    assert created == {"ticket": ticket, "change": "created"}
    assert (await d.manager.inbox.wait_for("ticket_updated"))["ticket"]["id"] == ticket["id"]
    note = await d.billing_agent.inbox.wait_for("notification")
    assert note["kind"] == "ticket_assigned" and note["data"] == {"ticket_id": ticket["id"]}
    second = await d.client.ok("submit_ticket", ticket_payload(d.billing, "Second"))
    assert second["assignee_id"] == d.ids["any_agent"]
    assert (await loads(d))[d.ids["billing_agent"]] == 1

    mine = await d.client.ok("list_tickets", {})
    assert [t["id"] for t in mine["tickets"]] == [second["id"], ticket["id"]]
    stranger, _ = await signed_in(any_server, Role.CLIENT)
    assert (await stranger.ok("list_tickets", {}))["tickets"] == []
    await stranger.error("get_ticket", {"ticket_id": ticket["id"]}, "not_found")

    hello = await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "hello?"})
    pushed = await d.billing_agent.inbox.wait_for("ticket_message")
    assert pushed == {"ticket_id": ticket["id"], "message": hello} and hello["author_role"] == "client"
    assert (await d.billing_agent.inbox.wait_for("notification", lambda n: n["kind"] == "ticket_reply"))["data"]
    view = await d.billing_agent.ok("get_ticket", {"ticket_id": ticket["id"]})
    assert view["messages"] == [hello] and view["ticket"]["id"] == ticket["id"]
    reply = await d.billing_agent.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "on it"})
    got = await d.client.inbox.wait_for("ticket_message", lambda m: m["message"]["id"] == reply["id"])
    assert got["message"]["author_id"] == d.ids["billing_agent"]

    for status in ("pending", "resolved"):
        changed = await d.billing_agent.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": status})
        assert changed["status"] == status
        push = await d.client.inbox.wait_for("ticket_updated", lambda u, s=status: u["ticket"]["status"] == s)
        assert push["change"] == "status"
    assert (await loads(d))[d.ids["billing_agent"]] == 0
    closed = await d.client.ok("set_ticket_status", {"ticket_id": ticket["id"], "status": "closed"})
    assert closed["status"] == "closed"
    await d.billing_agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "closed")
    await d.client.error("send_ticket_message", {"ticket_id": ticket["id"], "body": "again"}, "conflict")
    await d.billing_agent.error("set_ticket_status", {"ticket_id": ticket["id"], "status": "open"}, "conflict")
    assert len((await d.client.ok("get_ticket", {"ticket_id": ticket["id"]}))["messages"]) == 2


async def test_agents_see_their_tickets_and_open_ones_in_their_categories(server: RunningServer) -> None:
    d = await desk(server, auto_assign=False)
    billing = await d.client.ok("submit_ticket", ticket_payload(d.billing, "B"))
    tech = await d.client.ok("submit_ticket", ticket_payload(d.tech, "T"))
    assert billing["assignee_id"] is None and tech["assignee_id"] is None

    async def titles(agent: Client, **filters: Any) -> list[str]:
        return [t["title"] for t in (await agent.ok("list_tickets", filters))["tickets"]]

    assert await titles(d.billing_agent) == ["B"]
    assert await titles(d.any_agent) == ["T", "B"]
    await d.billing_agent.error("get_ticket", {"ticket_id": tech["id"]}, "not_found")
    await d.billing_agent.error("send_ticket_message", {"ticket_id": tech["id"], "body": "x"}, "not_found")
    await d.any_agent.ok("reassign_ticket", {"ticket_id": tech["id"], "assignee_id": d.ids["billing_agent"]})
    assert await titles(d.billing_agent) == ["T", "B"]
    await d.billing_agent.ok("set_ticket_status", {"ticket_id": billing["id"], "status": "pending"})
    await d.any_agent.ok("reassign_ticket", {"ticket_id": billing["id"], "assignee_id": d.ids["any_agent"]})
    assert await titles(d.billing_agent) == ["T"]
    outsider, _ = await signed_in(server, Role.AGENT)
    assert await titles(outsider) == []
    await outsider.error("get_ticket", {"ticket_id": billing["id"]}, "not_found")


async def test_reassign_moves_load_pushes_and_notifies(server: RunningServer) -> None:
    d = await desk(server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    assert ticket["assignee_id"] == d.ids["billing_agent"]
    moved = await d.billing_agent.ok("reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": d.ids["any_agent"]})
    assert moved["assignee_id"] == d.ids["any_agent"]
    for agent in (d.billing_agent, d.any_agent):
        push = await agent.inbox.wait_for("ticket_updated", lambda u: u["change"] == "assignee")
        assert push["ticket"]["assignee_id"] == d.ids["any_agent"]
    assert (await d.any_agent.inbox.wait_for("notification"))["kind"] == "ticket_assigned"
    assert await loads(d) == {d.ids["manager"]: 0, d.ids["billing_agent"]: 0, d.ids["any_agent"]: 1}
    same = await d.any_agent.ok("reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": d.ids["any_agent"]})
    assert same == moved
    _, info = await signed_in(server, Role.AGENT)
    error = await d.any_agent.error(
        "reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": info["user"]["id"]}, "invalid_payload"
    )
    assert error["details"][0]["field"] == "assignee_id"
    await d.client.error("reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": d.ids["any_agent"]}, "forbidden")
    await d.manager.ok("reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": d.ids["manager"]})
    assert await loads(d) == {d.ids["manager"]: 1, d.ids["billing_agent"]: 0, d.ids["any_agent"]: 0}


async def test_status_rules(server: RunningServer) -> None:
    d = await desk(server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.tech))
    tid = {"ticket_id": ticket["id"]}
    await d.client.error("set_ticket_status", {**tid, "status": "pending"}, "forbidden")
    await d.client.error("set_ticket_status", {**tid, "status": "frozen"}, "invalid_payload")
    await d.any_agent.error("set_ticket_status", {**tid, "status": "open"}, "conflict")
    await d.any_agent.ok("set_ticket_status", {**tid, "status": "resolved"})
    reopened = await d.any_agent.ok("set_ticket_status", {**tid, "status": "open"})
    assert reopened["status"] == "open" and (await loads(d))[d.ids["any_agent"]] == 1
    await d.manager.ok("set_ticket_status", {**tid, "status": "closed"})
    assert (await loads(d))[d.ids["any_agent"]] == 0
    await d.any_agent.error("set_ticket_status", {**tid, "status": "open"}, "conflict")
    await d.any_agent.error("set_ticket_status", {"ticket_id": "0" * 24, "status": "open"}, "not_found")


async def test_managers_filter_and_page_admins_see_every_workspace(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server(backend, clock=clock)
    d = await desk(server)
    other = await desk(server)  # before the clock moves: PyJWT refuses tokens issued in the future
    made = []
    for i, category in enumerate([d.billing, d.tech, d.billing, d.tech, d.billing, d.tech, d.billing]):
        clock.advance(minutes=1)
        made.append(await d.client.ok("submit_ticket", ticket_payload(category, f"t{i}")))
    await d.any_agent.ok("set_ticket_status", {"ticket_id": made[1]["id"], "status": "pending"})

    async def titles(who: Client, **filters: Any) -> list[str]:
        return [t["title"] for t in (await who.ok("list_tickets", filters))["tickets"]]

    assert await titles(d.manager) == [f"t{i}" for i in reversed(range(7))]
    assert await titles(d.manager, status="pending") == ["t1"]
    assert await titles(d.manager, category_id=d.billing["id"]) == ["t6", "t4", "t2", "t0"]
    assert await titles(d.manager, assignee_id=d.ids["billing_agent"]) == [
        t["title"] for t in reversed(made) if t["assignee_id"] == d.ids["billing_agent"]
    ]
    window = {"created_from": made[1]["created_at"], "created_to": made[3]["created_at"]}
    assert await titles(d.manager, **window) == ["t2", "t1"]
    pages, cursor = [], None
    while True:
        page = await d.manager.ok("list_tickets", {"limit": 3, **({"cursor": cursor} if cursor else {})})
        pages.append([t["title"] for t in page["tickets"]])
        if not (cursor := page["next_cursor"]):
            break
    assert pages == [["t6", "t5", "t4"], ["t3", "t2", "t1"], ["t0"]]
    billing_only = {"category_id": d.billing["id"], "limit": 2}
    first = await d.manager.ok("list_tickets", billing_only)
    second = await d.manager.ok("list_tickets", {**billing_only, "cursor": first["next_cursor"]})
    assert [[t["title"] for t in page["tickets"]] for page in (first, second)] == [["t6", "t4"], ["t2", "t0"]]
    same_instant = [(await d.client.ok("submit_ticket", ticket_payload(d.tech, f"s{i}")))["id"] for i in range(3)]
    seen, cursor = [], None
    while True:  # tickets created in the same millisecond are neither skipped nor repeated across pages
        page = await d.manager.ok(
            "list_tickets", {"status": "open", "limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        seen += [t["id"] for t in page["tickets"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 9 and set(same_instant) <= set(seen)
    await d.manager.error("list_tickets", {"created_from": "2024-01-01T00:00:00"}, "invalid_payload")

    await other.client.ok("submit_ticket", ticket_payload(other.billing, "elsewhere"))
    assert "elsewhere" not in await titles(d.manager)
    assert await titles(d.manager, workspace_id=other.workspace["id"]) == []
    assert len(await titles(d.admin)) == 11
    assert await titles(d.admin, workspace_id=other.workspace["id"]) == ["elsewhere"]


async def test_typing_is_relayed_and_read_receipts_are_pushed(server: RunningServer) -> None:
    d = await desk(server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    await d.billing_agent.ok("get_ticket", {"ticket_id": ticket["id"]})
    await d.client.ok("typing", {"ticket_id": ticket["id"], "typing": True})
    typing = await d.billing_agent.inbox.wait_for("typing")
    assert typing == {"ticket_id": ticket["id"], "user_id": d.ids["client"], "name": "client", "typing": True}
    await d.client.ok("typing", {"ticket_id": ticket["id"], "typing": False})
    await d.billing_agent.inbox.wait_for("typing", lambda t: t["typing"] is False)
    await asyncio.sleep(0.1)
    assert d.client.inbox.of("typing") == []
    outsider, _ = await signed_in(server, Role.AGENT)
    await outsider.error("typing", {"ticket_id": ticket["id"], "typing": True}, "not_found")
    await d.client.error("typing", {"ticket_id": ticket["id"], "typing": "yes"}, "invalid_payload")

    first = await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "one"})
    second = await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "two"})
    marker = await d.billing_agent.ok("mark_read", {"ticket_id": ticket["id"], "message_id": second["id"]})
    assert (marker["user_id"], marker["message_id"]) == (d.ids["billing_agent"], second["id"])
    assert (await d.client.inbox.wait_for("ticket_read"))["message_id"] == second["id"]
    back = await d.billing_agent.ok("mark_read", {"ticket_id": ticket["id"], "message_id": first["id"]})
    assert back["message_id"] == second["id"]
    view = await d.client.ok("get_ticket", {"ticket_id": ticket["id"]})
    assert [(r["user_id"], r["message_id"]) for r in view["reads"]] == [(d.ids["billing_agent"], second["id"])]
    await d.billing_agent.error("mark_read", {"ticket_id": ticket["id"], "message_id": "0" * 24}, "not_found")
    await outsider.error("mark_read", {"ticket_id": ticket["id"], "message_id": first["id"]}, "not_found")
    anon = await server.client()
    error = await anon.error("mark_read", {"ticket_id": ticket["id"], "message_id": first["id"]}, "invalid_payload")
    assert {d["field"] for d in error["details"]} >= {"workspace_id", "api_key"}  # anonymous: the Dowell mark_read


async def test_categories_and_members_are_managed_by_the_right_roles(server: RunningServer) -> None:
    d = await desk(server)
    ws = {"workspace_id": d.workspace["id"]}
    await d.manager.error("create_category", {**ws, "name": "billing"}, "conflict")
    for user in (d.billing_agent, d.client):
        await user.error("create_category", {**ws, "name": "Other"}, "forbidden")
    outside_manager, info = await signed_in(server, Role.MANAGER)
    await outside_manager.error("create_category", {**ws, "name": "Other"}, "forbidden")
    await outside_manager.error("list_workspace_members", ws, "forbidden")
    await outside_manager.error("subscribe_workspace", ws, "forbidden")
    assert [c["name"] for c in await d.client.ok("list_categories", ws)] == ["Billing", "Tech"]
    renamed = await d.manager.ok("update_category", {"category_id": d.tech["id"], "description": "bugs"})
    assert (renamed["name"], renamed["description"]) == ("Tech", "bugs")
    await d.client.ok("submit_ticket", ticket_payload(d.tech))
    await d.manager.error("delete_category", {"category_id": d.tech["id"]}, "conflict")
    spare = await d.admin.ok("create_category", {**ws, "name": "Spare"})
    assert await d.manager.ok("delete_category", {"category_id": spare["id"]}) == {
        "category_id": spare["id"],
        "deleted": True,
    }
    await d.manager.error("delete_category", {"category_id": spare["id"]}, "not_found")
    await d.client.error("submit_ticket", ticket_payload(spare), "not_found")
    await d.client.error("list_categories", {"workspace_id": "0" * 24}, "not_found")

    assert len(await d.manager.ok("list_workspace_members", ws)) == 3
    await d.admin.error("add_workspace_member", {**ws, "user_id": d.ids["client"]}, "invalid_payload")
    await d.admin.error("add_workspace_member", {**ws, "user_id": "0" * 24}, "invalid_payload")
    await d.admin.error(
        "add_workspace_member", {**ws, "user_id": info["user"]["id"], "categories": ["0" * 24]}, "not_found"
    )
    other = await desk(server)
    await d.admin.error(
        "add_workspace_member", {**ws, "user_id": info["user"]["id"], "categories": [other.billing["id"]]}, "not_found"
    )
    await d.manager.error("add_workspace_member", {**ws, "user_id": info["user"]["id"]}, "forbidden")
    await d.admin.ok("remove_workspace_member", {**ws, "user_id": d.ids["billing_agent"]})
    await d.admin.error("remove_workspace_member", {**ws, "user_id": d.ids["billing_agent"]}, "not_found")
    assert len(await d.manager.ok("list_workspace_members", ws)) == 2


BAD = {
    "create_category": [
        {},
        {"workspace_id": "w"},
        {"workspace_id": "w", "name": ""},
        {"workspace_id": "w", "name": "x", "extra": 1},
    ],
    "update_category": [{}, {"category_id": 5}],
    "delete_category": [{}, {"category_id": ""}],
    "list_categories": [{}, {"workspace_id": None}],
    "submit_ticket": [
        {},
        {"category_id": "c", "title": "", "body": "b"},
        {"category_id": "c", "title": "t", "body": "b", "attachments": "a"},
    ],
    "list_tickets": [{"limit": 0}, {"limit": 101}, {"status": "lost"}, {"cursor": "%%%"}, {"created_to": "yesterday"}],
    "get_ticket": [{}, {"ticket_id": 1}],
    "send_ticket_message": [{"ticket_id": "t"}, {"ticket_id": "t", "body": "   "}],
    "set_ticket_status": [{"ticket_id": "t"}, {"ticket_id": "t", "status": 1}],
    "reassign_ticket": [{"ticket_id": "t"}],
    "typing": [{"ticket_id": "t"}, {"ticket_id": "t", "typing": 1}],
    "mark_read": [{"ticket_id": "t"}, {"message_id": "m"}],
    "add_workspace_member": [{"workspace_id": "w"}, {"workspace_id": "w", "user_id": "u", "categories": [""]}],
}


async def test_bad_payloads_and_anonymous_sockets_are_refused(server: RunningServer) -> None:
    d = await desk(server)
    before = await d.admin.ok("list_tickets", {})
    users = {
        "create_category": d.admin,
        "update_category": d.admin,
        "delete_category": d.admin,
        "submit_ticket": d.client,
        "reassign_ticket": d.admin,
        "add_workspace_member": d.admin,
    }
    anon = await server.client()
    for event, payloads in BAD.items():
        who = users.get(event, d.client)
        for bad in [*payloads, "text", [1]]:
            await who.error(event, bad, "invalid_payload")
        if event != "mark_read":  # anonymous mark_read is the Dowell one (see the typing test)
            await anon.error(event, payloads[-1] if event != "list_tickets" else {}, "unauthorized")
    assert await d.admin.ok("list_tickets", {}) == before
    assert [c["name"] for c in await d.client.ok("list_categories", {"workspace_id": d.workspace["id"]})] == [
        "Billing",
        "Tech",
    ]


async def test_ticket_participants_see_each_others_presence(server: RunningServer) -> None:
    d = await desk(server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    assert ticket["assignee_id"] == d.ids["billing_agent"]
    opened = await d.billing_agent.ok("get_ticket", {"ticket_id": ticket["id"]})
    assert opened["presence"] == {d.ids["client"]: "online"}
    await d.client.ok("get_ticket", {"ticket_id": ticket["id"]})

    await d.client.close()
    gone = await d.billing_agent.inbox.wait_for("presence_changed", lambda m: m["user_id"] == d.ids["client"])
    assert gone["status"] == "offline"
    again = await d.server.client(token=d.tokens["client"])
    back = await d.billing_agent.inbox.wait_for(
        "presence_changed", lambda m: m["user_id"] == d.ids["client"] and m["status"] == "online"
    )
    assert back["status"] == "online"
    await again.ok("get_ticket", {"ticket_id": ticket["id"]})
    await d.billing_agent.ok("set_status", {"status": "away"})
    away = await again.inbox.wait_for("presence_changed", lambda m: m["user_id"] == d.ids["billing_agent"])
    assert away["status"] == "away"
    await asyncio.sleep(0.2)
    assert not any(m["user_id"] == d.ids["client"] for m in d.any_agent.inbox.of("presence_changed"))


async def test_every_change_reaches_the_ticket_room_and_the_assignees_user_room(any_server: RunningServer) -> None:
    d = await desk(any_server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing))
    tid = {"ticket_id": ticket["id"]}
    await d.manager.ok("get_ticket", tid)  # neither client nor assignee: reached only through ticket:<id>
    assignee = await any_server.client(token=d.tokens["billing_agent"])  # only in user:<id>, never opened it
    any_agent = await any_server.client(token=d.tokens["any_agent"])  # the later assignee, likewise

    async def seen_by(event: str, change: Any, *who: Client) -> None:
        for c in who:
            await c.inbox.wait_for(event, change)

    reply = await d.client.ok("send_ticket_message", {**tid, "body": "any news?"})
    await seen_by("ticket_message", lambda m: m["message"]["id"] == reply["id"], d.manager, assignee)
    await d.any_agent.ok("set_ticket_status", {**tid, "status": "pending"})
    pending = lambda u: u["change"] == "status" and u["ticket"]["status"] == "pending"  # noqa: E731
    await seen_by("ticket_updated", pending, d.manager, assignee)
    await d.manager.ok("reassign_ticket", {**tid, "assignee_id": d.ids["any_agent"]})
    moved = lambda u: u["change"] == "assignee" and u["ticket"]["assignee_id"] == d.ids["any_agent"]  # noqa: E731
    await seen_by("ticket_updated", moved, d.manager, any_agent, assignee)
    await d.client.ok("set_ticket_status", {**tid, "status": "closed"})
    closed = lambda u: u["change"] == "status" and u["ticket"]["status"] == "closed"  # noqa: E731
    await seen_by("ticket_updated", closed, d.manager, any_agent)
    assert not any(closed(u) for u in assignee.inbox.of("ticket_updated"))  # no longer the assignee


async def test_agents_who_lose_a_ticket_leave_its_room(any_server: RunningServer) -> None:
    d = await desk(any_server, auto_assign=False)
    tech = await d.client.ok("submit_ticket", ticket_payload(d.tech, "T"))
    billing = await d.client.ok("submit_ticket", ticket_payload(d.billing, "B"))
    await d.manager.ok("reassign_ticket", {"ticket_id": tech["id"], "assignee_id": d.ids["billing_agent"]})
    second_tab = await any_server.client(token=d.tokens["billing_agent"])
    for c in (d.billing_agent, second_tab):
        await c.ok("get_ticket", {"ticket_id": tech["id"]})
    for c in (d.any_agent, d.manager):
        await c.ok("get_ticket", {"ticket_id": billing["id"]})
        await c.ok("get_ticket", {"ticket_id": tech["id"]})

    async def said(ticket: dict[str, Any], body: str, *hearing: Client) -> None:
        await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": body})
        for c in hearing:
            await c.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == body)

    await said(tech, "before", d.billing_agent, second_tab, d.any_agent)
    await d.manager.ok("reassign_ticket", {"ticket_id": tech["id"], "assignee_id": d.ids["any_agent"]})
    await d.admin.ok("remove_workspace_member", {"workspace_id": d.workspace["id"], "user_id": d.ids["any_agent"]})
    await said(tech, "after", d.manager)
    await said(billing, "billing after", d.manager)
    await d.client.ok("typing", {"ticket_id": tech["id"], "typing": True})
    await asyncio.sleep(0.3)
    for c in (d.billing_agent, second_tab):  # reassigned away from a category they do not serve
        assert [m["message"]["body"] for m in c.inbox.of("ticket_message")] == ["before"]
        assert c.inbox.of("typing") == []
        await c.error("get_ticket", {"ticket_id": tech["id"]}, "not_found")
    bodies = [m["message"]["body"] for m in d.any_agent.inbox.of("ticket_message")]
    assert "billing after" not in bodies  # removed from the workspace: out of a room they only saw as a member
    assert "after" not in bodies  # and their open tech ticket was unassigned with the removal, so out of it too
    handed_on = lambda u: u["change"] == "assignee" and u["ticket"]["assignee_id"] is None  # noqa: E731
    assert (await d.client.inbox.wait_for("ticket_updated", handed_on))["ticket"]["id"] == tech["id"]
    assert not any(handed_on(u) for u in d.any_agent.inbox.of("ticket_updated"))  # they left: none of its news
