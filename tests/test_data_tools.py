"""Data tools: versioned migrations on both backends, and the online SQLite backup while a server writes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from models.accounts import UserRecord
from models.errors import Conflict
from models.helpdesk_stats import TicketResolution
from models.roles import Role
from storage import open_database
from storage.accounts import make_account_store
from storage.helpdesk_stats import make_helpdesk_stats_store
from storage.migrations import MIGRATIONS, Migration, applied_versions, migrate
from storage.profiles import make_profile_store
from tests.helpdesk_kit import keyed
from tests.helpers import RunningServer
from tests.test_attachments import download, upload
from tests.test_chat import MESSAGE
from tests.test_helpdesk import desk, ticket_payload

ROOT = Path(__file__).resolve().parent.parent
_NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
STATS_RANGE = {"from": _NOW_MS - 86_400_000, "to": _NOW_MS + 86_400_000}  # the same range before and after a move


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes ``server.py`` use ``settings``' database."""
    env = {**os.environ, "DESKLINE_DATA_DIR": str(settings.data_dir), "DESKLINE_LOG_LEVEL": "WARNING"}
    if settings.mongo_url:
        env |= {"DESKLINE_MONGO_URL": settings.mongo_url, "DESKLINE_MONGO_DB": settings.mongo_db}
    return env


async def cli(settings: Settings, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``python server.py ARGS`` on ``settings``' database; return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "server.py",
        *args,
        cwd=ROOT,
        env=env_of(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


async def versions(settings: Settings) -> set[int]:
    db = await open_database(settings)
    try:
        return await applied_versions(db)
    finally:
        await db.close()


async def test_migrate_command_applies_each_version_once(settings_for, backend: str) -> None:
    settings = settings_for(backend)
    code, out, err = await cli(settings, "migrate")
    assert code == 0, err
    assert f"applied={sorted(m.version for m in MIGRATIONS)}" in out
    assert await versions(settings) == {m.version for m in MIGRATIONS}
    code, out, err = await cli(settings, "migrate")
    assert code == 0, err
    assert "applied=none" in out


async def test_later_versions_run_in_order_and_only_once(settings_for, backend: str) -> None:
    settings = settings_for(backend)
    ran: list[int] = []

    def step(version: int):  # type: ignore[no-untyped-def]
        async def apply(db, settings) -> None:  # type: ignore[no-untyped-def]
            ran.append(version)

        return apply

    n = max(m.version for m in MIGRATIONS)
    later = (Migration(n + 2, "two", step(n + 2)), Migration(n + 1, "one", step(n + 1)))
    db = await open_database(settings)
    try:
        assert await migrate(db, settings, MIGRATIONS + later) == [*range(1, n + 1), n + 1, n + 2]
        assert await migrate(db, settings, MIGRATIONS + later) == []
        assert ran == [n + 1, n + 2]
        assert await applied_versions(db) == {*range(1, n + 3)}
    finally:
        await db.close()


async def test_start_migrates_unless_disabled(start_server, settings_for) -> None:
    on = settings_for("sqlite")
    await start_server(settings=on)
    assert await versions(on) == {m.version for m in MIGRATIONS}
    off = settings_for("sqlite", migrate_on_start=False)
    await start_server(settings=off)  # the stores' own idempotent init() still runs in wiring
    assert await versions(off) == set()


async def test_backup_while_a_server_writes(start_server, settings_for, tmp_path: Path) -> None:
    # the writer sends as fast as acks come back for as long as the backup command takes (seconds on a loaded
    # machine): no per-socket rate limit, or it is answered rate_limited before the copy is done
    settings = settings_for("sqlite", rate_limit_default="off")
    server: RunningServer = await start_server(settings=settings)
    writer = await server.client()
    await writer.ok("join", {"room": "lobby"})
    sent = 0
    stop, warm = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        nonlocal sent
        while not stop.is_set():
            await writer.ok("message_event", {**MESSAGE, "message_data": f"m{sent}"})
            sent += 1
            if sent == 20:
                warm.set()

    task = asyncio.create_task(write())
    await asyncio.wait_for(warm.wait(), 30)
    copy = tmp_path / "copy" / "deskline.db"
    code, out, err = await cli(settings, "backup", "--to", str(copy))
    during = sent
    stop.set()
    await task
    assert code == 0, err
    assert "integrity=ok" in out
    assert during > 20  # the server kept writing while the copy was taken

    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (copied,) = conn.execute("SELECT COUNT(*) FROM chat_messages WHERE room = 'lobby'").fetchone()
        assert 20 <= copied <= sent
        (versions_,) = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
        assert versions_ == len(MIGRATIONS)
    finally:
        conn.close()

    restored = settings_for("sqlite")  # restore = put the copy in place of deskline.db, then start
    restored.data_dir.mkdir(parents=True)
    copy.replace(restored.sqlite_path())
    again = await start_server(settings=restored)
    reader = await again.client()
    joined = await reader.ok("join", {"room": "lobby"})
    assert joined["history"] == min(copied, restored.history_limit)


async def test_backup_refuses_mongo(settings_for, tmp_path: Path) -> None:
    code, _, err = await cli(settings_for("mongo"), "backup", "--to", str(tmp_path / "x.db"))
    assert code == 2
    assert "mongodump" in err


async def snapshot(server: RunningServer, s: Scene) -> dict[str, Any]:
    """Read everything of the scene's workspace back through events and HTTP, as its users see it."""
    ws = {"workspace_id": s.workspace["id"]}
    manager = await server.client(token=s.tokens["manager"])
    client = await server.client(token=s.tokens["client"])
    dowell = await server.client()
    visitor = await server.client(auth={"widget_token": s.widget_token, "visitor_secret": s.visitor_secret})
    members = sorted(await manager.ok("list_workspace_members", ws), key=lambda m: m["user_id"])
    tickets = (await manager.ok("list_tickets", {}))["tickets"]
    views = [await manager.ok("get_ticket", {"ticket_id": t["id"]}) for t in tickets]
    for view in views:
        del view["presence"]  # who is online now, not stored data
    files = {}
    for view in views:
        for item in [view["ticket"], *view["messages"]]:
            for attachment_id in item["attachments"]:
                status, content, _ = await download(
                    server, attachment_id, {"Authorization": f"Bearer {s.tokens['client']}"}
                )
                files[attachment_id] = (status, content)
    k = {**ws, "api_key": s.key}
    support = await dowell.ok("get_tickets", {**k, "product": "app"})
    support_messages = {
        t["_id"]: await dowell.ok("get_ticket_messages", {**k, "ticket_id": t["_id"], "product": "app"})
        for t in support
    }
    unread = {
        who: await dowell.ok("get_unread_count", {**k, "ticket_id": t["_id"], "user_id": who})
        for t in support
        for who in ("cust", "lm1")
    }
    by_key = {"X-Workspace-Id": s.workspace["id"], "X-Api-Key": s.key}
    by_visitor = {"X-Widget-Token": s.widget_token, "X-Visitor-Secret": s.visitor_secret}
    for messages in support_messages.values():
        for message in messages:
            for attachment_id in message.get("attachments", []):
                status, content, _ = await download(server, attachment_id, by_key)
                files[attachment_id] = (status, content)
    conversations = await visitor.ok("widget_conversations")
    profile = await manager.ok("get_profile", {"user_id": s.ids["billing_agent"]})
    status, content, _ = await download(server, profile["picture_attachment_id"], bearer_of(s, "manager"))
    files[profile["picture_attachment_id"]] = (status, content)
    status, content, _ = await download(server, s.visitor_file, by_visitor)
    files[s.visitor_file] = (status, content)
    return {
        "members": members,
        "categories": await manager.ok("list_categories", ws),
        "tickets": tickets,
        "views": views,
        "client_tickets": await client.ok("list_tickets", {}),
        "files": files,
        "topics": await dowell.ok("get_all_topics", k),
        "line_managers": await dowell.ok("get_all_line_managers", k),
        "support": support,
        "support_messages": support_messages,
        "unread": unread,
        "visitor": conversations,
        "profile": profile,
        "stats": await manager.ok("helpdesk_stats", {**ws, **STATS_RANGE}),
    }


def bearer_of(s: Scene, who: str) -> dict[str, str]:
    """The Authorization header of one of the scene's users."""
    return {"Authorization": f"Bearer {s.tokens[who]}"}


@dataclass
class Scene:
    """A workspace built with real events: who can read it back, and with which credentials."""

    workspace: dict[str, Any]
    key: str
    widget_token: str
    visitor_secret: str
    visitor_file: str
    tokens: dict[str, str]
    ids: dict[str, str]


async def build_scene(server: RunningServer) -> Scene:
    """Build a workspace with every kind of record through real events (helpdesk, Dowell, widget, uploads)."""
    d = await desk(server, products=["app", "shop"])
    created = await d.admin.ok("get_widget_settings", {"workspace_id": d.workspace["id"]})
    key = (await d.admin.ok("rotate_workspace_key", {"workspace_id": d.workspace["id"]}))["api_key"]
    bearer = {"Authorization": f"Bearer {d.tokens['client']}"}
    status, shot = await upload(server, bearer, b"\x89PNG first bytes", "image/png", "shot.png")
    assert status == 201, shot
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.billing, attachments=[shot["id"]]))
    first = await d.client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "hello?"})
    status, log = await upload(
        server, {"Authorization": f"Bearer {d.tokens['billing_agent']}"}, b"a log", "text/plain", "log.txt"
    )
    assert status == 201, log
    await d.billing_agent.ok(
        "send_ticket_message", {"ticket_id": ticket["id"], "body": "on it", "attachments": [log["id"]]}
    )
    await d.billing_agent.ok("mark_read", {"ticket_id": ticket["id"], "message_id": first["id"]})
    done = await d.client.ok("submit_ticket", ticket_payload(d.tech, "Done"))
    await d.client.ok("send_ticket_message", {"ticket_id": done["id"], "body": "thanks"})
    await d.manager.ok("set_ticket_status", {"ticket_id": done["id"], "status": "resolved"})
    await d.client.ok("set_ticket_status", {"ticket_id": done["id"], "status": "closed"})
    await d.client.ok("submit_ticket", ticket_payload(d.tech, "Pending"))

    k = keyed(d.workspace, key)
    dowell = await server.client()
    await dowell.ok("create_topic", {**k, "name": "billing"})
    lm = {"positions_in_a_line": 1, "average_serving_time": 4.5, "ticket_count": 0}
    await dowell.ok("create_line_manager", {**k, "user_id": "lm1", **lm})
    support = await dowell.ok("create_ticket", {**k, "user_id": "cust", "product": "app"})
    support_id = support["_id"] if "_id" in support else support["data"]["_id"]
    status, key_file = await upload(server, {"X-Workspace-Id": d.workspace["id"], "X-Api-Key": key}, b"k", "text/plain")
    assert status == 201, key_file
    with_file = {**k, "ticket_id": support_id, "product": "app", "message_data": "see file", "user_id": "lm1"}
    await dowell.ok("ticket_message_event", {**with_file, "attachments": [key_file["id"]]})
    for who, text in (("cust", "hello"), ("lm1", "hi!"), ("cust", "still there?")):
        await dowell.ok(
            "ticket_message_event",
            {**k, "ticket_id": support_id, "product": "app", "message_data": text, "user_id": who},
        )
    await dowell.ok("mark_read", {**k, "ticket_id": support_id, "user_id": "lm1"})

    visitor = await server.client(auth={"widget_token": created["widget_token"]})
    opened_ = await visitor.ok("widget_open", {"product": "shop"})
    visitor_headers = {"X-Widget-Token": created["widget_token"], "X-Visitor-Secret": opened_["visitor_secret"]}
    status, mine = await upload(server, visitor_headers, b"visitor bytes", "text/plain", "v.txt")
    assert status == 201, mine
    sent = {"ticket_id": opened_["ticket"]["_id"], "message_data": "from the widget", "attachments": [mine["id"]]}
    await visitor.ok("widget_send", sent)
    agent_bearer = {"Authorization": f"Bearer {d.tokens['billing_agent']}"}
    status, picture = await upload(server, agent_bearer, b"\x89PNG\r\n\x1a\n face", "image/png", "me.png")
    assert status == 201, picture
    changes = {"name": "Bea Billing", "city": "Lyon", "region": "Rhône", "picture_attachment_id": picture["id"]}
    await d.billing_agent.ok("update_profile", changes)
    return Scene(d.workspace, key, created["widget_token"], opened_["visitor_secret"], mine["id"], d.tokens, d.ids)


async def test_export_from_sqlite_import_into_mongo_reads_back_the_same(
    start_server, settings_for, tmp_path: Path
) -> None:
    source = await start_server(settings=settings_for("sqlite"))
    scene = await build_scene(source)
    before = await snapshot(source, scene)
    doors = sorted(t["door"] for t in before["tickets"])  # one ticket store: the manager lists every door's
    assert doors == ["dowell", "signed_in", "signed_in", "signed_in", "widget"], doors
    assert len(before["files"]) == 5 and before["support"]
    assert before["profile"]["city"] == "Lyon" and before["profile"]["name"] == "Bea Billing"
    assert before["stats"]["closed"] == 1 and before["stats"]["resolution"]["count"] == 1
    done_before = await resolutions(source.settings, scene.workspace["id"])
    assert [r.status for r in done_before] == ["closed"]
    assert all(status == 200 for status, _ in before["files"].values())

    dump = tmp_path / "workspace.jsonl"
    code, _, err = await cli(source.settings, "export", "--workspace", scene.workspace["id"], "--to", str(dump))
    assert code == 0, err
    kinds = {json.loads(line)["kind"] for line in dump.read_text().splitlines()}
    assert kinds >= {
        "header",
        "user",
        "workspace",
        "member",
        "category",
        "visitor",
        "attachment",
        "topic",
        "line_manager",
        "support_ticket",
        "support_message",
        "ticket",
        "ticket_message",
        "read_marker",
        "profile",
        "ticket_resolution",
    }

    for backend in ("mongo", "sqlite"):  # the upgrade path, and back into a fresh SQLite file
        target = settings_for(backend)
        code, out, err = await cli(target, "import", "--from", str(dump))
        assert code == 0, err
        assert f"workspace={scene.workspace['id']}" in out
        destination = await start_server(settings=target)
        after = await snapshot(destination, scene)
        for part in before:
            assert after[part] == before[part], (backend, part)
        assert await resolutions(target, scene.workspace["id"]) == done_before, backend
        again = tmp_path / f"again-{backend}.jsonl"  # exported from this backend: the new kinds come out the same
        code, _, err = await cli(target, "export", "--workspace", scene.workspace["id"], "--to", str(again))
        assert code == 0, err
        assert new_kinds(again) == new_kinds(dump), backend

    code, _, err = await cli(target, "import", "--from", str(dump))  # the same workspace twice is refused
    assert code == 2 and "error: this database already has that workspace" in err


def new_kinds(dump: Path) -> list[dict[str, Any]]:
    """The profile and ticket resolution lines of an export file."""
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    return [line for line in lines if line["kind"] in ("profile", "ticket_resolution")]


async def resolutions(settings: Settings, workspace_id: str) -> list[TicketResolution]:
    """Read the workspace's ticket resolution records straight from the store."""
    db = await open_database(settings)
    try:
        return await make_helpdesk_stats_store(db).list_done(workspace_id)
    finally:
        await db.close()


async def test_an_existing_account_keeps_its_own_profile_on_import(start_server, settings_for, tmp_path: Path) -> None:
    source = await start_server(settings=settings_for("sqlite"))
    scene = await build_scene(source)
    dump = tmp_path / "workspace.jsonl"
    code, _, err = await cli(source.settings, "export", "--workspace", scene.workspace["id"], "--to", str(dump))
    assert code == 0, err
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    users = [line for line in lines if line["kind"] in ("user",)]
    agent = next(u for u in users if u["data"]["id"] == scene.ids["billing_agent"])
    target = settings_for("sqlite")
    only_user = tmp_path / "user.jsonl"
    only_user.write_text(json.dumps(lines[0] | {"workspace_id": None}) + "\n" + json.dumps(agent) + "\n")
    code, _, err = await cli(target, "import", "--from", str(only_user))
    assert code == 0, err
    code, _, err = await cli(target, "import", "--from", str(dump))
    assert code == 0, err
    db = await open_database(target)
    try:
        assert await make_profile_store(db).get(scene.ids["billing_agent"]) is None  # not the export's profile
    finally:
        await db.close()


async def test_restored_users_keep_their_id_hash_and_session_version(settings_for, backend: str) -> None:
    settings = settings_for(backend)
    db = await open_database(settings)
    try:
        await migrate(db, settings)
        store = make_account_store(db)
        now = datetime.now(UTC).replace(microsecond=0)
        record = UserRecord(
            id="a" * 24,
            email="x@example.com",
            name="X",
            role=Role.AGENT,
            created_at=now,
            password_hash="$argon2id$kept",
            session_version=3,
        )
        assert await store.restore_user(record) is True
        assert await store.restore_user(record) is False  # the same id again: left as it is
        assert await store.get_user(record.id) == record
        with pytest.raises(Conflict):  # another id with a taken email
            await store.restore_user(record.model_copy(update={"id": "b" * 24}))
    finally:
        await db.close()
