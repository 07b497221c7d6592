"""Dowell topics are categories (kind ``topic``): one store, managed by signed-in managers, the Dowell wire
contract unchanged, and today's ``hd_categories``/``support_topics`` migrated on start on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from config import Settings
from models.roles import Role
from storage.sqlite.convert import iso
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in
from tests.helpers import Client, RunningServer

# Today's main created these, copied from storage/sqlite/support.py and storage/sqlite/helpdesk_rows.py.
OLD_SQLITE = """
CREATE TABLE IF NOT EXISTS support_topics (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE TABLE IF NOT EXISTS hd_categories (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (workspace_id, name)
)
"""

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
T1 = datetime(2026, 1, 2, 3, 4, 6, 678000, tzinfo=UTC)


def when(text: str) -> datetime:
    """Return the instant an ISO date-time on the wire names."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def staffed(server: RunningServer) -> tuple[dict[str, Any], str, Client]:
    """Return a workspace, its key and a manager who is a member of it."""
    admin = await admin_of(server)
    workspace, key = await new_workspace(admin)
    manager, info = await signed_in(server, Role.MANAGER)
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": info["user"]["id"]})
    return workspace, key, manager


async def write_old(server: RunningServer, ws: str) -> None:
    """Make the database look like one today's main wrote: two topics (newer first by id) and one category."""
    topics = [
        {"id": "top-b", "workspace_id": ws, "name": "BILLING", "created_at": T0},
        {"id": "top-a", "workspace_id": ws, "name": "SHIPPING", "created_at": T1},
    ]
    category = {"id": "cat-1", "workspace_id": ws, "name": "Refunds", "description": "money back"}
    category |= {"created_at": T0, "updated_at": T1}
    db = server.deps.db
    if db.kind == "mongo":
        await db.db.drop_collection("categories")
        await db.db["migrations"].delete_one({"_id": "categories-one"})
        await db.db["support_topics"].insert_many([{"_id": t.pop("id"), **t} for t in topics])
        await db.db["hd_categories"].insert_one({"_id": category.pop("id"), **category, "name_key": "refunds"})
        return
    async with db.transaction() as conn:
        await conn.execute("DROP TABLE categories")
        await conn.execute("DELETE FROM migrations WHERE name = 'categories-one'")
        for statement in OLD_SQLITE.split(";"):
            await conn.execute(statement)
        for row in topics:
            await conn.execute(
                "INSERT INTO support_topics VALUES (?, ?, ?, ?)", (*list(row.values())[:3], iso(row["created_at"]))
            )
        values = [iso(v) if isinstance(v, datetime) else v for v in category.values()]
        await conn.execute("INSERT INTO hd_categories VALUES (?, ?, ?, ?, ?, ?)", values)


async def test_todays_topics_and_categories_migrate_on_start(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    first: RunningServer = await start_server(backend)
    workspace, key, _ = await staffed(first)
    ws = workspace["id"]
    await write_old(first, ws)
    settings: Settings = first.settings
    await first.stop()

    for _ in range(2):  # the second start finds the migration done and copies nothing twice
        server: RunningServer = await start_server(settings=settings)
        desk = await server.client()
        topics = await desk.ok("get_all_topics", keyed(workspace, key))
        assert [set(t) for t in topics] == [{"_id", "name", "workspace_id", "created_at"}] * 2
        assert [(t["_id"], t["name"], t["workspace_id"], when(t["created_at"])) for t in topics] == [
            ("top-b", "BILLING", ws, T0),  # creation order, not id order
            ("top-a", "SHIPPING", ws, T1),
        ]
        again = await desk.error("create_topic", keyed(workspace, key, name="billing"), "conflict")
        assert again["message"] == "Topic BILLING already exists"
        admin = await admin_of(server)
        listed = await admin.ok("list_categories", {"workspace_id": ws})
        assert [(c["id"], c["kind"], c["name"]) for c in listed] == [
            ("top-b", "topic", "BILLING"),
            ("cat-1", "category", "Refunds"),
            ("top-a", "topic", "SHIPPING"),
        ]
        assert listed[1]["description"] == "money back"
        await server.stop()
        server.clients.clear()


async def test_a_manager_sees_and_manages_dowell_topics_as_categories(any_server: RunningServer) -> None:
    workspace, key, manager = await staffed(any_server)
    ws = workspace["id"]
    desk = await any_server.client()
    topic = await desk.ok("create_topic", keyed(workspace, key, name=" late  delivery "))
    assert set(topic) == {"_id", "name", "workspace_id", "created_at"} and topic["name"] == "LATE_DELIVERY"

    listed = await manager.ok("list_categories", {"workspace_id": ws})
    assert [(c["id"], c["kind"], c["name"], c["description"]) for c in listed] == [
        (topic["_id"], "topic", "LATE_DELIVERY", "")
    ]
    # a signed-in category of the same name is another kind: both exist
    same = await manager.ok("create_category", {"workspace_id": ws, "name": "late_delivery"})
    assert same["kind"] == "category"
    await manager.error("create_category", {"workspace_id": ws, "name": "LATE_DELIVERY"}, "conflict")
    await desk.error("create_topic", keyed(workspace, key, name="late delivery"), "conflict")

    renamed = await manager.ok("update_category", {"category_id": topic["_id"], "name": "DELAYS"})
    assert (renamed["kind"], renamed["name"]) == ("topic", "DELAYS")
    topics = await desk.ok("get_all_topics", keyed(workspace, key))
    assert [(t["_id"], t["name"]) for t in topics] == [(topic["_id"], "DELAYS")]  # signed-in categories not listed

    assert (await manager.ok("delete_category", {"category_id": topic["_id"]}))["deleted"] is True
    missing = await desk.error("get_all_topics", keyed(workspace, key), "not_found")
    assert missing["message"] == "No Topic found for this Workspace"


async def test_another_workspace_manager_cannot_touch_a_topic(any_server: RunningServer) -> None:
    workspace, key, _ = await staffed(any_server)
    _, _, outsider = await staffed(any_server)  # a manager, but of another workspace
    desk = await any_server.client()
    topic = await desk.ok("create_topic", keyed(workspace, key, name="secret"))
    await outsider.error("update_category", {"category_id": topic["_id"], "name": "MINE"}, "forbidden")
    await outsider.error("delete_category", {"category_id": topic["_id"]}, "forbidden")
    visitor = await any_server.client()
    await visitor.error("update_category", {"category_id": topic["_id"], "name": "MINE"}, "unauthorized")
    topics = await desk.ok("get_all_topics", keyed(workspace, key))
    assert [t["name"] for t in topics] == ["SECRET"]
