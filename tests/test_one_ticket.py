"""One ticket behind every door: signed-in agents answer widget and Dowell tickets, and today's ``support_*``/
``hd_*`` data migrates on start, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from config import Settings
from models.roles import Role
from storage.sqlite.convert import iso
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in
from tests.helpers import RunningServer, connect_client
from tests.security.test_widget_token import opened, site_of

# Today's main (before the unified store) created these, copied from storage/sqlite/support.py and
# storage/sqlite/helpdesk_rows.py as they were.
OLD_SQLITE = """
CREATE TABLE IF NOT EXISTS support_tickets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    product TEXT NOT NULL,
    line_manager TEXT NOT NULL,
    is_closed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS support_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    product TEXT NOT NULL,
    author TEXT NOT NULL,
    message_data TEXT NOT NULL,
    reply_to TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    is_read INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hd_tickets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    category_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    attachments TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hd_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_role TEXT NOT NULL,
    body TEXT NOT NULL,
    attachments TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def old_rows(ws: str, category: str, client: str) -> dict[str, list[dict[str, Any]]]:
    """One Dowell ticket, one widget ticket and one signed-in ticket, with messages, as today's main stored them."""
    dowell = {"id": "dt1", "workspace_id": ws, "user_id": "cust", "product": "app", "line_manager": "lm"}
    widget = {"id": "wt1", "workspace_id": ws, "user_id": "visitor-abc", "product": "widget", "line_manager": "lm"}
    support_tickets = [
        {**dowell, "is_closed": 0, "created_at": at(0), "updated_at": at(0)},
        {**widget, "is_closed": 1, "created_at": at(1), "updated_at": at(5)},
    ]
    said = {"workspace_id": ws, "reply_to": None, "attachments": [], "is_read": 0}
    support_messages = [
        {**said, "id": "dm1", "ticket_id": "dt1", "product": "app", "author": "cust", "message_data": "hello"},
        {**said, "id": "dm2", "ticket_id": "dt1", "product": "app", "author": "lm", "message_data": "hi!"},
        {**said, "id": "wm1", "ticket_id": "wt1", "product": "widget", "author": "visitor-abc", "message_data": "hey"},
    ]
    for n, m in enumerate(support_messages):
        m["created_at"] = at(10 + n)
    hd_tickets = [
        {
            "id": "ht1",
            "workspace_id": ws,
            "category_id": category,
            "client_id": client,
            "title": "Refund",
            "body": "charged twice",
            "attachments": [],
            "status": "open",
            "assignee_id": None,
            "created_at": at(2),
            "updated_at": at(20),
        }
    ]
    hd_messages = [
        {"id": "hm1", "ticket_id": "ht1", "author_id": client, "author_role": "client", "body": "any news?"},
    ]
    hd_messages[0].update(attachments=[], created_at=at(20))
    return {
        "support_tickets": support_tickets,
        "support_messages": support_messages,
        "hd_tickets": hd_tickets,
        "hd_messages": hd_messages,
    }


async def write_old(server: RunningServer, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Make the server's database look like one today's main wrote: old ticket tables, no unified ones."""
    db = server.deps.db
    if db.kind == "mongo":
        for name in ("tickets", "ticket_messages", "migrations"):
            await db.db.drop_collection(name)
        for name, docs in rows.items():
            out = []
            for doc in docs:
                doc = {"_id": doc["id"], **{k: v for k, v in doc.items() if k != "id"}}
                if name.startswith("support_"):
                    doc = {**doc, "is_closed": bool(doc.get("is_closed"))} if name == "support_tickets" else doc
                    if name == "support_messages":
                        doc = {**doc, "document_type": "chat", "is_read": bool(doc["is_read"])}
                        del doc["attachments"]  # Dowell's shape: absent when there are none
                out.append(doc)
            await db.db[name].insert_many(out)
        return
    async with db.transaction() as conn:
        for name in ("tickets", "ticket_messages", "migrations"):
            await conn.execute(f"DROP TABLE IF EXISTS {name}")
        for statement in OLD_SQLITE.split(";"):
            await conn.execute(statement)
        for name, docs in rows.items():
            for doc in docs:
                values = {
                    k: iso(v) if isinstance(v, datetime) else json.dumps(v) if isinstance(v, list) else v
                    for k, v in doc.items()
                }
                columns = ", ".join(values)
                marks = ", ".join("?" * len(values))
                await conn.execute(f"INSERT INTO {name} ({columns}) VALUES ({marks})", tuple(values.values()))


async def test_todays_tickets_migrate_on_start_and_read_through_both_doors(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    first: RunningServer = await start_server(backend)
    admin = await admin_of(first)
    workspace, key = await new_workspace(admin)
    ws = workspace["id"]
    manager, info = await signed_in(first, Role.MANAGER)
    await admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    _, client_info = await signed_in(first, Role.CLIENT)
    client_id, client_token = client_info["user"]["id"], client_info["access_token"]
    lm = keyed(workspace, key, user_id="lm", positions_in_a_line=1, average_serving_time=2)
    await (await first.client()).ok("create_line_manager", lm)
    await write_old(first, old_rows(ws, category["id"], client_id))
    settings: Settings = first.settings
    await first.stop()

    for _ in range(2):  # the second start finds the migration done and copies nothing twice
        server: RunningServer = await start_server(settings=settings)
        desk = await server.client()
        history = await desk.ok("get_ticket_messages", keyed(workspace, key, ticket_id="dt1", product="app"))
        assert [(m["author"], m["message_data"]) for m in history] == [("cust", "hello"), ("lm", "hi!")]
        assert {m["workspace_id"] for m in history} == {ws} and {m["product"] for m in history} == {"app"}
        listed = await desk.ok("get_tickets", keyed(workspace, key, product="app"))
        assert [(t["_id"], t["user_id"], t["line_manager"], t["is_closed"]) for t in listed] == [
            ("dt1", "cust", "lm", False)
        ]
        widget = await desk.ok("get_tickets", keyed(workspace, key, product="widget"))
        assert [(t["_id"], t["is_closed"]) for t in widget] == [("wt1", True)]
        unread = await desk.ok("get_unread_count", keyed(workspace, key, ticket_id="dt1", user_id="cust"))
        assert unread["unread_count"] == 1

        client = await connect_client(server.url, client_token)
        server.clients.append(client)
        mine = await client.ok("list_tickets", {})
        assert [t["id"] for t in mine["tickets"]] == ["ht1"]
        view = await client.ok("get_ticket", {"ticket_id": "ht1"})
        assert view["ticket"]["title"] == "Refund" and view["ticket"]["category_id"] == category["id"]
        assert [m["body"] for m in view["messages"]] == ["any news?"]
        await client.error("get_ticket", {"ticket_id": "dt1"}, "not_found")
        await server.stop()
        server.clients.clear()


async def test_a_signed_in_agent_answers_a_widget_visitor_and_the_key_holder_sees_the_same_history(
    any_server: RunningServer,
) -> None:
    site = await site_of(any_server)
    ws = site.workspace["id"]
    manager, manager_info = await signed_in(any_server, Role.MANAGER)
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": manager_info["user"]["id"]})
    await manager.ok("subscribe_workspace", {"workspace_id": ws})
    visitor, opened_answer = await opened(site, "my order never arrived")
    ticket_id = opened_answer["ticket"]["_id"]
    created = await manager.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == ticket_id)
    assert created["change"] == "created" and created["ticket"]["door"] == "widget"
    agent, info = await signed_in(any_server, Role.AGENT, name="ana")
    stranger, _ = await signed_in(any_server, Role.AGENT)  # an agent of no workspace sees nothing
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    dowell_room = await any_server.client()  # a Dowell frontend in the ticket's room of the key
    await dowell_room.ok("get_ticket_messages", site.keyed(ticket_id=ticket_id, product="shop"))

    listed = await agent.ok("list_tickets", {"workspace_id": ws})
    assert [(t["id"], t["door"], t["product"], t["category_id"]) for t in listed["tickets"]] == [
        (ticket_id, "widget", "shop", None)
    ]
    assert (await stranger.ok("list_tickets", {}))["tickets"] == []
    await stranger.error("get_ticket", {"ticket_id": ticket_id}, "not_found")
    view = await agent.ok("get_ticket", {"ticket_id": ticket_id})
    visitor_id = opened_answer["visitor_id"]
    assert [(m["author_id"], m["author_role"], m["body"]) for m in view["messages"]] == [
        (visitor_id, "visitor", "my order never arrived")
    ]

    reply = await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "Resending it today."})
    assert reply["author_role"] == "agent"
    live = await visitor.inbox.wait_for("widget_message", lambda m: m["_id"] == reply["id"])
    assert (live["message_data"], live["author"], live["product"]) == (
        "Resending it today.",
        info["user"]["id"],
        "shop",
    )
    pushed = await dowell_room.inbox.wait_for(
        "ticket_message_response", lambda m: isinstance(m["data"], dict) and m["data"].get("_id") == reply["id"]
    )
    assert live.pop("author_name") == info["user"]["name"] and "author_picture" not in live  # names the agent
    assert pushed["operation"] == "send_message" and pushed["data"] == live

    history = await site.agent.ok("get_ticket_messages", site.keyed(ticket_id=ticket_id, product="shop"))
    assert [(m["author"], m["message_data"]) for m in history] == [
        (visitor_id, "my order never arrived"),
        (info["user"]["id"], "Resending it today."),
    ]
    assert history[1] == live
    mine = await visitor.ok("widget_messages", {"ticket_id": ticket_id})
    assert [m["message_data"] for m in mine] == ["my order never arrived", "Resending it today."]

    await visitor.ok("widget_send", {"ticket_id": ticket_id, "message_data": "thanks!"})
    back = await agent.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "thanks!")
    assert back["ticket_id"] == ticket_id and back["message"]["author_role"] == "visitor"
    keyed_answer = site.keyed(ticket_id=ticket_id, product="shop", message_data="anything else?", user_id="lm-ana")
    await site.agent.ok("ticket_message_event", keyed_answer)
    back = await agent.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "anything else?")
    assert back["message"]["author_id"] == "lm-ana" and back["message"]["author_role"] == "dowell"
    assert len((await agent.ok("get_ticket", {"ticket_id": ticket_id}))["messages"]) == 4

    # closing moves the line manager's count as the Dowell door does, and tells the visitor; a non-member assignee
    # is refused (reassigning to members: tests/test_door_reassign.py)
    await agent.error("reassign_ticket", {"ticket_id": ticket_id, "assignee_id": "nobody"}, "invalid_payload")
    await agent.error("set_ticket_status", {"ticket_id": ticket_id, "status": "pending"}, "conflict")
    closed = await agent.ok("set_ticket_status", {"ticket_id": ticket_id, "status": "closed"})
    assert closed["status"] == "closed" and closed["assignee_id"] == "lm-ana"
    assert await visitor.inbox.wait_for("widget_ticket_closed") == {"ticket_id": ticket_id}
    told = await agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "closed")
    assert told == {"ticket": closed, "change": "status"}
    managers = await site.agent.ok("get_all_line_managers", site.keyed())
    assert [m["ticket_count"] for m in managers] == [0]
    await agent.error("send_ticket_message", {"ticket_id": ticket_id, "body": "late"}, "conflict")
    listed = await site.agent.ok("get_tickets", site.keyed(product="shop"))
    assert [t["is_closed"] for t in listed] == [True]
    reopened = await site.agent.ok("reopen_ticket", site.keyed(ticket_id=ticket_id, product="shop"))
    assert reopened["is_closed"] is False
    told = await agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "open")
    assert told["change"] == "status" and told["ticket"]["id"] == ticket_id
    assert [m["ticket_count"] for m in await site.agent.ok("get_all_line_managers", site.keyed())] == [1]
    await agent.ok("set_ticket_status", {"ticket_id": ticket_id, "status": "closed"})
    assert (await agent.ok("set_ticket_status", {"ticket_id": ticket_id, "status": "open"}))["status"] == "open"
    assert [m["ticket_count"] for m in await site.agent.ok("get_all_line_managers", site.keyed())] == [1]


async def test_a_signed_in_agent_answers_a_dowell_ticket_in_the_key_holders_room(server: RunningServer) -> None:
    site = await site_of(server)
    ws = site.workspace["id"]
    ticket = await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    said = site.keyed(ticket_id=ticket["_id"], product="shop", message_data="hello", user_id="cust")
    first = await site.agent.ok("ticket_message_event", said)  # the sender is in the ticket's room of the key
    manager, info = await signed_in(server, Role.MANAGER)
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    category_agent, agent_info = await signed_in(server, Role.AGENT)
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    limited = {"workspace_id": ws, "user_id": agent_info["user"]["id"], "categories": [category["id"]]}
    await site.admin.ok("add_workspace_member", limited)

    listed = await manager.ok("list_tickets", {"workspace_id": ws})
    assert [(t["id"], t["door"], t["client_id"], t["assignee_id"]) for t in listed["tickets"]] == [
        (ticket["_id"], "dowell", "cust", "lm-ana")
    ]
    assert (await category_agent.ok("list_tickets", {}))["tickets"] == []  # no category: not in theirs
    await category_agent.error("get_ticket", {"ticket_id": ticket["_id"]}, "not_found")
    view = await manager.ok("get_ticket", {"ticket_id": ticket["_id"]})
    assert [(m["id"], m["author_role"]) for m in view["messages"]] == [(first["_id"], "dowell")]
    reply = await manager.ok("send_ticket_message", {"ticket_id": ticket["_id"], "body": "we are on it"})
    pushed = await site.agent.inbox.wait_for(
        "ticket_message_response", lambda m: isinstance(m["data"], dict) and m["data"].get("_id") == reply["id"]
    )
    assert pushed["data"]["message_data"] == "we are on it" and pushed["data"]["author"] == info["user"]["id"]
    history = await site.agent.ok("get_ticket_messages", site.keyed(ticket_id=ticket["_id"], product="shop"))
    assert [m["_id"] for m in history] == [first["_id"], reply["id"]] and history[1] == pushed["data"]
