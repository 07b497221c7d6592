"""Today's ``support_line_managers`` become workspace member records on start, on both backends, once; the Dowell
line keeps its order and counts, and a line manager that is a staff account's id shares that member's record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config import Settings
from models.roles import Role
from storage.sqlite.convert import iso
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in
from tests.helpers import RunningServer

# Today's main created this, copied from storage/sqlite/support.py.
OLD_SQLITE = """
CREATE TABLE IF NOT EXISTS support_line_managers (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    positions_in_a_line INTEGER NOT NULL,
    average_serving_time REAL NOT NULL,
    ticket_count INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (workspace_id, user_id)
)
"""
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


async def write_old(server: RunningServer, rows: list[dict[str, object]]) -> None:
    """Make the database look like one today's main wrote: line managers in their own table, none as members."""
    db = server.deps.db
    if db.kind == "mongo":
        await db.db["migrations"].delete_one({"_id": "line-managers-one"})
        await db.db["workspace_members"].update_many({}, {"$unset": {"line_id": "", "line_position": ""}})
        await db.db["support_line_managers"].insert_many([{"_id": r["id"], **r} for r in rows])
        return
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM migrations WHERE name = 'line-managers-one'")
        await conn.execute("UPDATE workspace_members SET line_id = NULL, line_position = NULL")
        await conn.execute(OLD_SQLITE)
        for r in rows:
            values = tuple(iso(v) if isinstance(v, datetime) else v for v in r.values())
            await conn.execute(
                f"INSERT INTO support_line_managers ({', '.join(r)}) VALUES (?, ?, ?, ?, ?, ?, ?)", values
            )


async def test_todays_line_managers_become_members_on_start(start_server, backend: str) -> None:  # type: ignore[no-untyped-def]
    first: RunningServer = await start_server(backend)
    admin = await admin_of(first)
    workspace, key = await new_workspace(admin)
    ws = workspace["id"]
    _, info = await signed_in(first, Role.AGENT)
    agent_id = info["user"]["id"]
    await admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": agent_id})
    common = {"workspace_id": ws, "average_serving_time": 2.5}
    rows: list[dict[str, object]] = [
        {"id": "l1", "user_id": "lm-far", "positions_in_a_line": 2, "ticket_count": 0, "created_at": T0},
        {"id": "l2", "user_id": agent_id, "positions_in_a_line": 1, "ticket_count": 4, "created_at": T0},
        {
            "id": "l3",
            "user_id": "lm-near",
            "positions_in_a_line": 1,
            "ticket_count": 0,
            "created_at": T0 + timedelta(seconds=1),
        },
    ]
    await write_old(first, [{**r, **common} for r in rows])
    settings: Settings = first.settings
    await first.stop()

    for round_ in range(2):  # the second start finds the migration done and copies nothing twice
        server: RunningServer = await start_server(settings=settings)
        desk = await server.client()
        line = await desk.ok("get_all_line_managers", keyed(workspace, key))
        assert [(m["_id"], m["user_id"], m["positions_in_a_line"], m["ticket_count"]) for m in line] == [
            ("l2", agent_id, 1, 4),
            ("l3", "lm-near", 1, round_),  # the first round's ticket went to lm-near
            ("l1", "lm-far", 2, 0),
        ]
        assert {m["average_serving_time"] for m in line} == {2.5}
        ticket = await desk.ok("create_ticket", keyed(workspace, key, user_id=f"cust{round_}", product="app"))
        assert ticket["line_manager"] == ("lm-near", "lm-far")[round_]  # least ticket_count, then position
        again = await desk.error(
            "create_line_manager",
            keyed(workspace, key, user_id="lm-near", positions_in_a_line=9, average_serving_time=1, ticket_count=0),
            "conflict",
        )
        assert again["message"] == "User lm-near already exists"
        staff = await (await admin_of(server)).ok("list_workspace_members", {"workspace_id": ws})
        assert [(m["user_id"], m["role"]) for m in staff] == [(agent_id, "agent")]  # the others are no members
        await server.stop()
        server.clients.clear()
