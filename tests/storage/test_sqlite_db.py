"""The SQLite database: write transactions stay all-or-nothing when the task running one is cancelled, and WAL
checkpoints run beside the writer without letting the WAL grow without end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest

from storage.sqlite import checkpoint
from storage.sqlite.db import SqliteDatabase, tx_fetch_one


@pytest.fixture
async def pairs(settings_for) -> AsyncIterator[SqliteDatabase]:  # type: ignore[no-untyped-def]
    """A database with an empty ``pairs`` table (``write_pair`` writes two rows per number, in one block)."""
    settings = settings_for("sqlite")
    settings.data_dir.mkdir(parents=True)
    db = await SqliteDatabase.open(settings.sqlite_path())
    await db.create_schema("CREATE TABLE IF NOT EXISTS pairs (n INTEGER NOT NULL)")
    yield db
    await db.close()


async def write_pair(db: SqliteDatabase, n: int) -> None:
    """Write two rows for ``n`` in one transaction block."""
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO pairs VALUES (?)", (n,))
        await conn.execute("INSERT INTO pairs VALUES (?)", (n,))


async def test_a_cancelled_transaction_leaves_nothing_open_or_half_written(pairs: SqliteDatabase) -> None:
    db = pairs
    committed = []
    for steps in range(6):  # cancelled while BEGIN runs (0), between the inserts, at COMMIT, or after it
        task = asyncio.ensure_future(write_pair(db, steps))
        for _ in range(steps + 1):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
            committed.append(steps)
        except asyncio.CancelledError:
            pass
        await write_pair(db, 100 + steps)  # the connection is not stuck inside a half-open transaction
        committed.append(100 + steps)
    rows = await db.fetch_all("SELECT n, COUNT(*) AS c FROM pairs GROUP BY n")
    counts = {row["n"]: row["c"] for row in rows}
    assert all(c == 2 for c in counts.values()), counts
    assert set(committed) <= set(counts) and {100 + s for s in range(6)} <= set(counts)


async def test_a_cancelled_write_is_settled_when_its_task_ends(pairs: SqliteDatabase) -> None:
    """A write cancelled at any point is committed or gone once its task has ended, never committed later."""
    db = pairs

    async def rows_of(n: int) -> int:
        row = await db.fetch_one("SELECT COUNT(*) AS c FROM pairs WHERE n = ?", (n,))
        return int(row["c"]) if row else 0

    seen_late = []
    for steps in range(12):  # cancelled before, inside, at and after the block, and after a single statement
        writes = [write_pair(db, steps), db.execute("INSERT INTO pairs VALUES (?), (?)", (1000 + steps, 1000 + steps))]
        for n, write in zip((steps, 1000 + steps), writes, strict=True):
            task = asyncio.ensure_future(write)
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            at_end = await rows_of(n)
            await db.execute("INSERT INTO pairs VALUES (-1)")  # every write queued before this one is settled
            if await rows_of(n) != at_end:
                seen_late.append(n)
    assert seen_late == []


async def test_processes_opening_a_new_file_at_once_all_get_it_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two instances starting together on one new file once failed with "database is locked"."""
    for attempt in range(10):
        path = tmp_path / f"fresh-{attempt}.db"
        opened = await asyncio.wait_for(asyncio.gather(*(SqliteDatabase.open(path) for _ in range(4))), 10)
        for db in opened:
            row = await db.fetch_one("PRAGMA journal_mode")
            assert row is not None and row["journal_mode"] == "wal"
            await db.close()


async def _counters(tmp_path) -> SqliteDatabase:  # type: ignore[no-untyped-def]
    db = await SqliteDatabase.open(tmp_path / "group.db")
    await db.create_schema(
        "CREATE TABLE IF NOT EXISTS items (n INTEGER PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
        "INSERT OR IGNORE INTO counter VALUES (1, 0)"
    )
    return db


async def test_every_concurrent_write_is_in_the_file_when_it_is_acknowledged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Writes queued together share a commit, and each is answered only once that commit is in the file."""
    db = await _counters(tmp_path)
    other = sqlite3.connect(tmp_path / "group.db")

    async def write_and_look(n: int) -> None:
        assert await db.execute("INSERT INTO items VALUES (?)", (n,)) == 1
        assert other.execute("SELECT count(*) FROM items WHERE n = ?", (n,)).fetchone() == (1,)

    await asyncio.gather(*(write_and_look(n) for n in range(500)))
    await db.close()
    again = sqlite3.connect(tmp_path / "group.db")
    assert again.execute("SELECT count(*) FROM items").fetchone() == (500,)
    other.close()
    again.close()


async def test_a_failing_unit_is_rolled_back_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In one batch: a duplicate insert and a block that raises leave nothing; the other units commit."""
    db = await _counters(tmp_path)
    await db.execute("INSERT INTO items VALUES (0)")

    async def failing_block() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO items VALUES (1001)")
            await conn.execute("INSERT INTO items VALUES (1002)")
            raise ValueError("refused")

    def failing_run(raw: sqlite3.Connection) -> None:
        raw.execute("INSERT INTO items VALUES (2001)")
        raw.execute("INSERT INTO items VALUES (0)")  # duplicate: the whole unit goes

    results = await asyncio.gather(
        db.execute("INSERT INTO items VALUES (1)"),
        db.execute("INSERT INTO items VALUES (0)"),
        failing_block(),
        db.run(failing_run),
        db.execute("INSERT INTO items VALUES (2)"),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[4] == 1
    assert isinstance(results[1], sqlite3.IntegrityError) and isinstance(results[3], sqlite3.IntegrityError)
    assert isinstance(results[2], ValueError)
    rows = await db.fetch_all("SELECT n FROM items ORDER BY n")
    assert [r["n"] for r in rows] == [0, 1, 2]
    await db.close()


async def test_a_read_then_write_block_stays_isolated_across_connections_and_batches(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Blocks that read a counter and write it back lose no update, from two connections (as two processes)."""
    first, second = await _counters(tmp_path), await SqliteDatabase.open(tmp_path / "group.db")

    async def bump(db: SqliteDatabase) -> None:
        async with db.transaction() as conn:
            row = await tx_fetch_one(conn, "SELECT n FROM counter WHERE id = 1")
            await asyncio.sleep(0)
            await conn.execute("UPDATE counter SET n = ? WHERE id = 1", (row["n"] + 1,))

    def bump_in_thread(raw: sqlite3.Connection) -> None:
        (n,) = raw.execute("SELECT n FROM counter WHERE id = 1").fetchone()
        raw.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))

    await asyncio.gather(
        *(bump(db) for db in (first, second) for _ in range(100)),
        *(db.run(bump_in_thread) for db in (first, second) for _ in range(100)),
    )
    row = await second.fetch_one("SELECT n FROM counter WHERE id = 1")
    assert row is not None and row["n"] == 400
    await first.close()
    await second.close()


async def test_commits_leave_checkpoints_to_the_background_which_copies_them_into_the_file(
    pairs: SqliteDatabase,
) -> None:
    db = pairs
    assert await db.run(lambda raw: raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0  # none in a COMMIT
    await db.create_schema("CREATE TABLE IF NOT EXISTS blobs (b BLOB NOT NULL)")
    for _ in range(20):  # 20 commits of 16 KiB: far below SQLite's own 1,000-page automatic checkpoint
        await db.execute("INSERT INTO blobs VALUES (?)", (bytes(16384),))
    for _ in range(200):  # a second after the first commit at the latest; 10 s at most
        if db.path.stat().st_size >= 20 * 16384:
            break
        await asyncio.sleep(0.05)
    assert db.path.stat().st_size >= 20 * 16384, "the database file never got the committed pages"


async def test_the_wal_stays_short_while_writes_never_stop(
    pairs: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A background checkpoint never finds the WAL fully copied while writes go on, so the writer finishes it."""
    db = pairs
    monkeypatch.setattr(checkpoint, "COMMITS_PER_CHECKPOINT", 10)
    monkeypatch.setattr(checkpoint, "WAL_CATCH_UP_FRAMES", 200)  # 800 KiB
    await db.create_schema("CREATE TABLE IF NOT EXISTS blobs (b BLOB NOT NULL)")
    wal = db.path.with_name(db.path.name + "-wal")
    longest = 0

    async def keep_writing() -> None:
        nonlocal longest
        for _ in range(600):
            await db.execute("INSERT INTO blobs VALUES (?)", (bytes(16384),))
            longest = max(longest, wal.stat().st_size)

    await asyncio.gather(*(keep_writing() for _ in range(4)))  # 2,400 commits, 37.5 MiB, never a pause
    assert tuple(await db.fetch_one("SELECT count(*) AS n FROM blobs") or ()) == (2400,)
    assert longest < 18 * 2**20, f"the WAL grew to {longest / 2**20:.1f} MiB: it never started over"
