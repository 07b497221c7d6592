"""Dowell support tickets, driven exactly as an old frontend drives them (no acks), plus Deskline acks."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from auth.workspace_keys import new_api_key
from config import Settings
from models.clock import to_millis
from models.common import utc_now
from models.workspaces import WorkspaceRecord
from storage import open_database
from storage.database import new_id
from storage.workspaces import make_workspace_store
from tests.conftest import REAL_MONGO
from tests.helpdesk_kit import admin_of, keyed, new_workspace, old_emit, stored_text
from tests.helpers import Client, ManualClock, RunningServer, ServerProcess, connect_client, free_port

TICKET_KEYS = {"_id", "user_id", "line_manager", "is_closed", "created_at", "updated_at", "product", "workspace_id"}
MESSAGE_KEYS = {
    "_id",
    "document_type",
    "ticket_id",
    "message_data",
    "author",
    "reply_to",
    "is_read",
    "created_at",
    "product",
    "workspace_id",
}


def success(operation: str, data: Any) -> dict[str, Any]:
    return {"data": data, "status": "success", "operation": operation}


def failure(operation: str, sentence: str) -> dict[str, Any]:
    return {"data": sentence, "status": "failure", "operation": operation}


async def test_old_frontend_flow_end_to_end(any_server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(any_server))
    settings, manager_ui, customer = [await any_server.client() for _ in range(3)]

    def k(**fields: Any) -> dict[str, Any]:
        return keyed(workspace, key, **fields)

    none = await old_emit(settings, "get_all_topics", k(), "setting_response", "get_all_topics")
    assert none == failure("get_all_topics", "No Topic found for this Workspace")
    topic = await old_emit(
        settings, "create_topic", k(name=" billing  issues ", created_at="today"), "setting_response", "create_topic"
    )
    assert topic["status"] == "success" and topic["data"]["name"] == "BILLING_ISSUES"
    assert set(topic["data"]) == {"_id", "name", "workspace_id", "created_at"}
    again = await old_emit(settings, "create_topic", k(name="Billing issues"), "setting_response", "create_topic")
    assert again == failure("create_topic", "Topic BILLING_ISSUES already exists")
    topics = await old_emit(manager_ui, "get_all_topics", k(), "setting_response", "get_all_topics")
    assert topics == success("get_all_topics", [topic["data"]])

    nobody = await old_emit(settings, "get_all_line_managers", k(), "setting_response", "get_all_line_managers")
    assert nobody == failure("get_all_line_managers", "No Line Manager found for this Workspace")
    no_manager = await old_emit(
        customer, "create_ticket", k(user_id="cust", product="app"), "ticket_response", "create_ticket"
    )
    assert no_manager["status"] == "failure"
    lm = {"positions_in_a_line": "1", "average_serving_time": "4.5", "ticket_count": 0, "created_at": "now"}
    made = await old_emit(
        settings, "create_line_manager", k(user_id="lm1", **lm), "setting_response", "create_line_manager"
    )
    assert made["status"] == "success" and made["data"]["positions_in_a_line"] == 1
    assert made["data"]["average_serving_time"] == 4.5 and made["data"]["ticket_count"] == 0
    dup = await old_emit(
        settings, "create_line_manager", k(user_id="lm1", **lm), "setting_response", "create_line_manager"
    )
    assert dup == failure("create_line_manager", "User lm1 already exists")
    managers = await old_emit(settings, "get_all_line_managers", k(), "setting_response", "get_all_line_managers")
    assert [m["user_id"] for m in managers["data"]] == ["lm1"]

    created = await old_emit(
        customer, "create_ticket", k(user_id="cust", product="app"), "ticket_response", "create_ticket"
    )
    ticket = created["data"]
    assert created["status"] == "success" and set(ticket) == TICKET_KEYS
    assert (ticket["user_id"], ticket["line_manager"], ticket["is_closed"], ticket["product"]) == (
        "cust",
        "lm1",
        False,
        "app",
    )
    assert ticket["workspace_id"] == workspace["id"]
    pushed = await manager_ui.inbox.wait_for("new_ticket")
    assert pushed == {"data": ticket, "status": "success"}

    hello = k(ticket_id=ticket["_id"], product="app", message_data="hello", user_id="cust", reply_to="None")
    sent = await old_emit(customer, "ticket_message_event", hello, "ticket_message_response", "send_message")
    message = sent["data"]
    assert set(message) == MESSAGE_KEYS and message["document_type"] == "chat"  # no attachments: no such key
    assert all(isinstance(message[k], str) for k in MESSAGE_KEYS - {"reply_to", "is_read"})
    assert message["is_read"] is False and message["ticket_id"] == ticket["_id"]
    assert (message["author"], message["reply_to"], message["is_read"]) == ("cust", None, False)
    history = await old_emit(
        manager_ui,
        "get_ticket_messages",
        k(ticket_id=ticket["_id"], product="app"),
        "ticket_message_response",
        "get_ticket_messages",
    )
    assert history == success("get_ticket_messages", [message])
    answer = k(ticket_id=ticket["_id"], product="app", message_data="hi!", user_id="lm1", reply_to=message["_id"])
    await manager_ui.emit("ticket_message_event", answer)
    got = await customer.inbox.wait_for(
        "ticket_message_response", lambda m: isinstance(m["data"], dict) and m["data"].get("message_data") == "hi!"
    )
    assert got["operation"] == "send_message" and got["data"]["reply_to"] == message["_id"]

    reader = k(ticket_id=ticket["_id"], user_id="cust")
    unread = await old_emit(customer, "get_unread_count", reader, "ticket_message_response", "get_unread_count")
    assert unread["data"] == {"ticket_id": ticket["_id"], "user_id": "cust", "unread_count": 1}
    marked = await old_emit(customer, "mark_read", reader, "ticket_message_response", "mark_read")
    assert marked["data"]["marked"] == 1
    assert (await customer.ok("get_unread_count", reader))["unread_count"] == 0
    assert (await manager_ui.ok("get_unread_count", {**reader, "user_id": "lm1"}))["unread_count"] == 1

    listed = await old_emit(customer, "get_tickets", k(product="app"), "ticket_response", "get_ticket")
    assert listed == success("get_ticket", [ticket])
    close = k(ticket_id=ticket["_id"], line_manager="lm1", product="app")
    closed = await old_emit(manager_ui, "close_ticket", close, "ticket_response", "close_ticket")
    assert closed == success("close_ticket", "Ticket Closed")
    twice = await old_emit(manager_ui, "close_ticket", close, "ticket_response", "close_ticket")
    assert twice == failure("close_ticket", "Ticket Already Closed")
    late = await old_emit(customer, "ticket_message_event", hello, "ticket_message_response", "send_message")
    assert late == failure("send_message", "Ticket is closed")
    assert len(await customer.ok("get_ticket_messages", k(ticket_id=ticket["_id"]))) == 2

    reopened = await old_emit(
        manager_ui, "reopen_ticket", k(ticket_id=ticket["_id"]), "ticket_response", "reopen_ticket"
    )
    assert reopened["status"] == "success" and reopened["data"]["is_closed"] is False
    assert await customer.ok("ticket_message_event", hello)
    everything = str([c.inbox.events for c in (settings, manager_ui, customer)])
    assert key not in everything
    assert key not in await stored_text(any_server)


async def line_managers(client: Client, workspace: dict[str, Any], key: str) -> dict[str, int]:
    return {m["user_id"]: m["ticket_count"] for m in await client.ok("get_all_line_managers", keyed(workspace, key))}


async def test_assignment_follows_count_then_position_and_close_reopen_move_counts(server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(server))
    c = await server.client()
    for user, position, count in (("late", 3, 0), ("first", 1, 1), ("second", 2, 0)):
        await c.ok(
            "create_line_manager",
            keyed(
                workspace, key, user_id=user, positions_in_a_line=position, average_serving_time=5, ticket_count=count
            ),
        )
    order = [
        (await c.ok("create_ticket", keyed(workspace, key, user_id=f"u{i}", product="p")))["line_manager"]
        for i in range(5)
    ]
    assert order == ["second", "late", "first", "second", "late"]
    assert await line_managers(c, workspace, key) == {"first": 2, "second": 2, "late": 2}
    tickets = await c.ok("get_tickets", keyed(workspace, key, product="p"))
    first = next(t for t in tickets if t["line_manager"] == "first")
    await c.ok("close_ticket", keyed(workspace, key, ticket_id=first["_id"], product="p"))
    assert (await line_managers(c, workspace, key))["first"] == 1
    await c.ok("reopen_ticket", keyed(workspace, key, ticket_id=first["_id"]))
    assert (await line_managers(c, workspace, key))["first"] == 2


async def test_reopening_an_open_ticket_fails_and_changes_no_count(any_server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(any_server))
    c = await any_server.client()
    fields = {"positions_in_a_line": 1, "average_serving_time": 2}
    await c.ok("create_line_manager", keyed(workspace, key, user_id="m", **fields))
    ticket = await c.ok("create_ticket", keyed(workspace, key, user_id="u", product="p"))
    reopen = keyed(workspace, key, ticket_id=ticket["_id"], product="p")
    refused = await old_emit(c, "reopen_ticket", reopen, "ticket_response", "reopen_ticket")
    assert refused == failure("reopen_ticket", "Ticket Already Open")
    error = await c.error("reopen_ticket", reopen, "conflict")
    assert error["message"] == "Ticket Already Open"
    assert await line_managers(c, workspace, key) == {"m": 1}
    stored = await c.ok("get_tickets", keyed(workspace, key, product="p"))
    assert stored == [ticket]


async def test_waiting_time_counts_open_tickets_ahead(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock)
    workspace, key = await new_workspace(await admin_of(server))
    c = await server.client()
    fields = {"positions_in_a_line": 1, "average_serving_time": 7.5}
    await c.ok("create_line_manager", keyed(workspace, key, user_id="solo", **fields))
    ids = []
    for i in range(3):
        clock.advance(seconds=1)
        ids.append((await c.ok("create_ticket", keyed(workspace, key, user_id=f"u{i}", product="p")))["_id"])
    wait = await old_emit(
        c, "waiting_time_response", keyed(workspace, key, ticket_id=ids[2]), "ticket_response", "waiting_time_response"
    )
    assert wait == success(
        "waiting_time_response",
        {
            "ticket_id": ids[2],
            "line_manager": "solo",
            "tickets_ahead": 2,
            "average_serving_time": 7.5,
            "waiting_time": 15.0,
        },
    )
    assert (await c.ok("waiting_time_response", keyed(workspace, key, ticket_id=ids[0])))["waiting_time"] == 0
    await c.ok("close_ticket", keyed(workspace, key, ticket_id=ids[0], product="p"))
    assert (await c.ok("waiting_time_response", keyed(workspace, key, ticket_id=ids[2])))["tickets_ahead"] == 1
    error = await c.error("waiting_time_response", keyed(workspace, key, ticket_id=ids[0]), "conflict")
    assert error["message"] == "Ticket Already Closed"


async def test_products_setting_limits_new_tickets(server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(server), products=["app", "web"])
    c = await server.client()
    await c.ok("create_line_manager", keyed(workspace, key, user_id="m", positions_in_a_line=1, average_serving_time=1))
    assert (await c.ok("create_ticket", keyed(workspace, key, user_id="u", product="web")))["product"] == "web"
    error = await c.error("create_ticket", keyed(workspace, key, user_id="u", product="tv"), "not_found")
    assert error["message"] == "Product tv not found in this Workspace"
    assert c.inbox.of("ticket_response")[-1] == failure("create_ticket", "Product tv not found in this Workspace")
    assert await c.ok("get_tickets", keyed(workspace, key, product="tv")) == []


async def test_tickets_and_rooms_stay_inside_their_workspace(server: RunningServer) -> None:
    admin = await admin_of(server)
    mine, my_key = await new_workspace(admin, "Mine")
    theirs, their_key = await new_workspace(admin, "Theirs")
    me, them = await server.client(), await server.client()
    for ws, key in ((mine, my_key), (theirs, their_key)):
        await me.ok("create_line_manager", keyed(ws, key, user_id="m", positions_in_a_line=1, average_serving_time=1))
    await them.ok("create_topic", keyed(theirs, their_key, name="t"))
    await them.ok("get_all_topics", keyed(theirs, their_key))
    ticket = await me.ok("create_ticket", keyed(mine, my_key, user_id="u", product="p"))
    await asyncio.sleep(0.2)
    assert them.inbox.of("new_ticket") == []
    other = {"ticket_id": ticket["_id"], "product": "p"}
    for event, extra in (
        ("close_ticket", {}),
        ("reopen_ticket", {}),
        ("get_ticket_messages", {}),
        ("waiting_time_response", {}),
        ("ticket_message_event", {"message_data": "x", "user_id": "u"}),
        ("get_unread_count", {"user_id": "u"}),
        ("mark_read", {"user_id": "u"}),
    ):
        error = await them.error(event, keyed(theirs, their_key, **other, **extra), "not_found")
        assert error["message"] == "Ticket not found"
    assert await them.ok("get_tickets", keyed(theirs, their_key, product="p")) == []
    wrong_product = await me.error(
        "close_ticket", keyed(mine, my_key, ticket_id=ticket["_id"], product="q"), "not_found"
    )
    assert wrong_product["message"] == "Ticket not found"
    assert (await me.ok("get_tickets", keyed(mine, my_key, product="p")))[0]["is_closed"] is False


BAD_PAYLOADS: dict[str, list[dict[str, Any]]] = {
    "create_topic": [{"name": ""}, {"name": 5}, {}],
    "get_all_topics": [],
    "create_line_manager": [
        {"user_id": "m", "positions_in_a_line": "first", "average_serving_time": 1},
        {"user_id": "m", "positions_in_a_line": True, "average_serving_time": 1},
        {"user_id": "m", "positions_in_a_line": 1, "average_serving_time": -1},
        {"user_id": "", "positions_in_a_line": 1, "average_serving_time": 1},
        {"user_id": "m", "positions_in_a_line": 1},
    ],
    "create_ticket": [{"user_id": "u"}, {"user_id": "u", "product": "  "}, {"user_id": 3, "product": "p"}],
    "get_tickets": [{}, {"product": ["p"]}],
    "close_ticket": [{"product": "p"}, {"ticket_id": "", "product": "p"}],
    "reopen_ticket": [{}, {"ticket_id": None}],
    "waiting_time_response": [{}],
    "ticket_message_event": [
        {"ticket_id": "t", "product": "p", "message_data": "  ", "user_id": "u"},
        {"ticket_id": "t", "product": "p", "message_data": "x"},
        {"ticket_id": "t", "product": "p", "message_data": {"x": 1}, "user_id": "u"},
    ],
    "get_ticket_messages": [{}],
    "get_unread_count": [{"ticket_id": "t"}],
    "mark_read": [{"user_id": "u"}],
}
LISTEN = {
    "create_topic": ("setting_response", "create_topic", {"name": "t"}),
    "get_all_topics": ("setting_response", "get_all_topics", {}),
    "create_line_manager": (
        "setting_response",
        "create_line_manager",
        {"user_id": "m", "positions_in_a_line": 1, "average_serving_time": 1},
    ),
    "get_all_line_managers": ("setting_response", "get_all_line_managers", {}),
    "create_ticket": ("ticket_response", "create_ticket", {"user_id": "u", "product": "p"}),
    "get_tickets": ("ticket_response", "get_ticket", {"product": "p"}),
    "close_ticket": ("ticket_response", "close_ticket", {"ticket_id": "t", "product": "p"}),
    "reopen_ticket": ("ticket_response", "reopen_ticket", {"ticket_id": "t"}),
    "waiting_time_response": ("ticket_response", "waiting_time_response", {"ticket_id": "t"}),
    "ticket_message_event": (
        "ticket_message_response",
        "send_message",
        {"ticket_id": "t", "product": "p", "message_data": "x", "user_id": "u"},
    ),
    "get_ticket_messages": ("ticket_message_response", "get_ticket_messages", {"ticket_id": "t"}),
    "get_unread_count": ("ticket_message_response", "get_unread_count", {"ticket_id": "t", "user_id": "u"}),
    "mark_read": ("ticket_message_response", "mark_read", {"ticket_id": "t", "user_id": "u"}),
}


async def test_every_event_refuses_bad_input_and_writes_nothing(server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(server))
    c = await server.client()
    for event, (listen, operation, valid) in LISTEN.items():
        for bad in [*BAD_PAYLOADS.get(event, []), "not an object", [1, 2], None]:
            payload = keyed(workspace, key, **bad) if isinstance(bad, dict) else bad
            await c.error(event, payload, "invalid_payload")
            assert c.inbox.of(listen)[-1] == failure(operation, "Invalid Data"), (event, bad)
        error = await c.error(event, keyed(workspace, "dk_wrong", **valid), "unauthorized")
        assert error["message"] == "Invalid API key"
        assert c.inbox.of(listen)[-1] == failure(operation, "Invalid API key")
    assert (await c.error("get_all_topics", keyed(workspace, key), "not_found"))["message"].startswith("No Topic")
    assert (await c.error("get_all_line_managers", keyed(workspace, key), "not_found"))["message"].startswith("No Line")
    assert await c.ok("get_tickets", keyed(workspace, key, product="p")) == []
    await c.ok("create_topic", keyed(workspace, key, name="still alive"))


async def test_unknown_ticket_and_reply_to(server: RunningServer) -> None:
    workspace, key = await new_workspace(await admin_of(server))
    c = await server.client()
    await c.ok("create_line_manager", keyed(workspace, key, user_id="m", positions_in_a_line=1, average_serving_time=1))
    ticket = await c.ok("create_ticket", keyed(workspace, key, user_id="u", product="p"))
    missing = await c.error("close_ticket", keyed(workspace, key, ticket_id="nope", product="p"), "not_found")
    assert missing["message"] == "Ticket not found"
    message = keyed(workspace, key, ticket_id=ticket["_id"], product="p", message_data="x", user_id="u", reply_to="bad")
    error = await c.error("ticket_message_event", message, "not_found")
    assert error["message"] == "Reply message not found"
    assert await c.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket["_id"])) == []


async def test_oversized_payload_gets_the_failure_envelope(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", max_payload_bytes=2000)
    workspace, key = await new_workspace(await admin_of(server))
    c = await server.client()
    await c.error("create_topic", keyed(workspace, key, name="x" * 3000), "payload_too_large")
    assert c.inbox.of("setting_response")[-1] == failure("create_topic", "Invalid Data")


async def _workspace_in(settings: Settings) -> tuple[dict[str, Any], str]:
    """Create a workspace straight in the shared database, before the server processes start."""
    db = await open_database(settings)
    try:
        store = make_workspace_store(db)
        await store.init()
        key, key_hash, hint = new_api_key()
        now = to_millis(utc_now())
        workspace = await store.create(
            WorkspaceRecord(id=new_id(), name="Race", key_hash=key_hash, key_hint=hint, created_at=now, updated_at=now)
        )
        return workspace.model_dump(mode="json"), key
    finally:
        await db.close()


async def _race(settings: Settings, managers: int, clients: int, tickets_each: int) -> None:
    """Create tickets from many clients on two server processes sharing one database; check the invariants."""
    workspace, key = await _workspace_in(settings)
    env = {
        "DESKLINE_DATA_DIR": str(settings.data_dir),
        "DESKLINE_JWT_SECRET": "x" * 48,
        "DESKLINE_LOG_LEVEL": "WARNING",
    }
    if settings.mongo_url:
        env |= {"DESKLINE_MONGO_URL": settings.mongo_url, "DESKLINE_MONGO_DB": settings.mongo_db}
    procs = [ServerProcess(env, free_port()) for _ in range(2)]
    sockets: list[Client] = []
    try:
        await asyncio.gather(*(p.start(timeout=60) for p in procs))
        sockets = [await connect_client(procs[i % 2].url) for i in range(clients)]
        for i in range(managers):
            fields = {"user_id": f"lm{i}", "positions_in_a_line": i + 1, "average_serving_time": 3}
            await sockets[i % 2].ok("create_line_manager", keyed(workspace, key, **fields))

        async def burst(client: Client, n: int) -> list[dict[str, Any]]:
            calls = [
                client.ok("create_ticket", keyed(workspace, key, user_id=f"{client.sid}-{j}", product="p"))
                for j in range(tickets_each)
            ]
            return list(await asyncio.gather(*calls))

        made = [t for batch in await asyncio.gather(*(burst(c, i) for i, c in enumerate(sockets))) for t in batch]
        stored = await sockets[0].ok("get_tickets", keyed(workspace, key, product="p"))
        counts = {
            m["user_id"]: m["ticket_count"] for m in await sockets[1].ok("get_all_line_managers", keyed(workspace, key))
        }
    finally:
        for client in sockets:
            await client.close()
        for proc in procs:
            proc.stop()
    total = clients * tickets_each
    assert len(made) == total and len({t["_id"] for t in made}) == total
    assert sorted(t["_id"] for t in stored) == sorted(t["_id"] for t in made)
    assert {t["_id"]: t["line_manager"] for t in stored} == {t["_id"]: t["line_manager"] for t in made}
    open_per_manager = Counter(t["line_manager"] for t in stored if not t["is_closed"])
    assert counts == {f"lm{i}": open_per_manager[f"lm{i}"] for i in range(managers)}
    assert max(counts.values()) - min(counts.values()) <= 1


async def test_concurrent_tickets_on_two_processes_never_double_book_sqlite(settings_for) -> None:  # type: ignore[no-untyped-def]
    await _race(settings_for("sqlite"), managers=5, clients=20, tickets_each=10)


async def test_concurrent_tickets_on_two_processes_never_double_book_mongo(settings_for) -> None:  # type: ignore[no-untyped-def]
    if REAL_MONGO:
        await _race(settings_for("mongo"), managers=5, clients=20, tickets_each=10)
    else:
        await _race(settings_for("mongo"), managers=3, clients=4, tickets_each=5)
