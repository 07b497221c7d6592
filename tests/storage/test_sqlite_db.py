"""The SQLite database's write transactions stay all-or-nothing when the task running one is cancelled."""

from __future__ import annotations

import asyncio

from storage.sqlite.db import SqliteDatabase


async def test_a_cancelled_transaction_leaves_nothing_open_or_half_written(settings_for) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for("sqlite")
    settings.data_dir.mkdir(parents=True)
    db = await SqliteDatabase.open(settings.sqlite_path())
    await db.create_schema("CREATE TABLE IF NOT EXISTS pairs (n INTEGER NOT NULL)")

    async def write_pair(n: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO pairs VALUES (?)", (n,))
            await conn.execute("INSERT INTO pairs VALUES (?)", (n,))

    committed = []
    for steps in range(6):  # cancelled while BEGIN runs (0), between the inserts, at COMMIT, or after it
        task = asyncio.ensure_future(write_pair(steps))
        for _ in range(steps + 1):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            committed.append(steps)
        except asyncio.CancelledError:
            pass
        await write_pair(100 + steps)  # the connection is not stuck inside a half-open transaction
        committed.append(100 + steps)
    rows = await db.fetch_all("SELECT n, COUNT(*) AS c FROM pairs GROUP BY n")
    counts = {row["n"]: row["c"] for row in rows}
    assert all(c == 2 for c in counts.values()), counts
    assert set(committed) <= set(counts) and {100 + s for s in range(6)} <= set(counts)
    await db.close()


async def test_processes_opening_a_new_file_at_once_all_get_it_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two instances starting together on one new file once failed with "database is locked"."""
    for attempt in range(10):
        path = tmp_path / f"fresh-{attempt}.db"
        opened = await asyncio.wait_for(asyncio.gather(*(SqliteDatabase.open(path) for _ in range(4))), 10)
        for db in opened:
            row = await db.fetch_one("PRAGMA journal_mode")
            assert row is not None and row["journal_mode"] == "wal"
            await db.close()
