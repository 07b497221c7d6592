"""Data tools: versioned migrations on both backends, and the online SQLite backup while a server writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from config import Settings
from storage import open_database
from storage.migrations import MIGRATIONS, Migration, applied_versions, migrate
from tests.helpers import RunningServer
from tests.test_chat import MESSAGE

ROOT = Path(__file__).resolve().parent.parent


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
    assert "applied=[1]" in out
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

    later = (Migration(3, "three", step(3)), Migration(2, "two", step(2)))
    db = await open_database(settings)
    try:
        assert await migrate(db, settings, MIGRATIONS + later) == [1, 2, 3]
        assert await migrate(db, settings, MIGRATIONS + later) == []
        assert ran == [2, 3]
        assert await applied_versions(db) == {1, 2, 3}
    finally:
        await db.close()


async def test_start_migrates_unless_disabled(start_server, settings_for) -> None:
    on = settings_for("sqlite")
    await start_server(settings=on)
    assert await versions(on) == {1}
    off = settings_for("sqlite", migrate_on_start=False)
    await start_server(settings=off)  # the stores' own idempotent init() still runs in wiring
    assert await versions(off) == set()


async def test_backup_while_a_server_writes(start_server, settings_for, tmp_path: Path) -> None:
    settings = settings_for("sqlite")
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
        assert versions_ == 1
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
