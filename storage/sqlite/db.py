"""One SQLite file shared by every repository of a process (and by other processes).

Writes go through one writer connection with group commit: the write units that are queued
together (single statements, ``run`` functions and whole ``transaction()`` blocks) run inside
one ``BEGIN IMMEDIATE ... COMMIT``, each unit in its own savepoint, so a failing unit is rolled
back alone. Each unit's caller is answered only after that COMMIT has returned, so nothing is
acknowledged before it is durable at ``PRAGMA synchronous``'s level; a caller cancelled once its unit
is queued finishes only when that unit is committed or rolled back. Consecutive statements and
``run`` functions share one trip to the writer's thread (the units: ``storage/sqlite/write_units.py``).
Reads use their own connection in WAL mode, one thread trip per query, and never wait behind a write.
WAL checkpoints run on a third connection, beside the writer (``storage/sqlite/checkpoint.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from storage.sqlite.checkpoint import CHECKPOINT_OFF, Checkpointer
from storage.sqlite.connect import connect, hop
from storage.sqlite.write_units import SAVEPOINT, Block, Calls, answer, roll_back, run_calls, settled, statement_call

MAX_BATCH = 256  # units per transaction
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
T = TypeVar("T")


def _fetch_all(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    return raw.execute(sql, params).fetchall()


def _fetch_one(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    cursor = raw.execute(sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


class SqliteDatabase:
    """An SQLite file in WAL mode: one group-committing writer connection, one reader and one for checkpoints.

    Cross-process atomicity comes from SQLite itself (``BEGIN IMMEDIATE`` takes the database's
    write lock, waiting up to the busy timeout for other processes); the writer task only orders
    this process's write units on its one connection.
    """

    kind: Literal["sqlite"] = "sqlite"

    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, checkpoints: aiosqlite.Connection, path: Path
    ) -> None:
        self._conn = writer
        self._reader = reader
        self._checkpointer = Checkpointer(checkpoints)
        self.path = path
        self._queue: deque[Calls | Block] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="sqlite-writer")

    @classmethod
    async def open(cls, path: Path, synchronous: str = "NORMAL") -> SqliteDatabase:
        """Open (creating if needed) the database file at ``path``; ``synchronous`` is SQLite's durability level."""
        if synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous is one of {', '.join(SYNCHRONOUS_LEVELS)}, not {synchronous!r}")
        writer = await connect(path, [f"synchronous={synchronous.upper()}", CHECKPOINT_OFF])
        reader = await connect(path, ["query_only=ON"])
        checkpoints = await connect(path, [f"synchronous={synchronous.upper()}"])
        return cls(writer, reader, checkpoints, path)

    async def ping(self) -> bool:
        """Return True when the file can be read."""
        try:
            await self.fetch_one("SELECT 1")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        """Finish the queued writes and close the connections (a second call does nothing)."""
        self._closing = True
        self._wake.set()
        await asyncio.shield(self._task)
        await self._checkpointer.close()
        await self._conn.close()
        await self._reader.close()

    async def create_schema(self, script: str) -> None:
        """Run a ``CREATE ... IF NOT EXISTS`` script."""
        statements = [s for s in script.split(";") if s.strip()]

        def create(raw: sqlite3.Connection) -> None:
            for statement in statements:
                raw.execute(statement)

        await self.run(create)

    def _submit(self, unit: Calls | Block) -> None:
        if self._closing:
            raise RuntimeError("the database is closed")
        self._queue.append(unit)
        self._wake.set()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the writer's thread as one atomic write unit; return its result once committed.

        ``fn`` must not touch the event loop; an exception it raises rolls back its own changes only.
        """
        unit = Calls(fn, asyncio.get_running_loop().create_future())
        self._submit(unit)
        return await settled(unit, self._task)  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write statement atomically and return the number of rows it changed, once committed."""
        return await self.run(statement_call(sql, tuple(params)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block as one atomic, isolated write unit; answer after the COMMIT holding it, or roll it back."""
        block = Block(asyncio.get_running_loop())
        self._submit(block)
        try:
            await block.started
        except BaseException:
            block.finished.set_result(False)
            raise
        try:
            yield self._conn
        except BaseException:
            block.finished.set_result(False)
            raise
        block.finished.set_result(True)
        await settled(block, self._task)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Return every row of a read query (committed data only)."""
        return await hop(self._reader, _fetch_all, sql, tuple(params))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """Return the first row of a read query (committed data only), or None."""
        return await hop(self._reader, _fetch_one, sql, tuple(params))

    async def _write_loop(self) -> None:
        """Take the queued units in batches and commit each batch."""
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            try:
                await self._commit(batch)
            except Exception as err:
                await self._fail(batch, err)
            else:
                self._checkpointer.committed()
            await self._checkpointer.catch_up(self._conn)

    async def _commit(self, batch: list[Calls | Block]) -> None:
        """Run ``batch`` in one transaction, then answer every unit."""
        before, calls, outcomes = ["BEGIN IMMEDIATE"], [], []
        for unit in batch:
            if isinstance(unit, Calls):
                calls.append(unit)
                continue
            if unit.finished.done():  # cancelled before its turn
                continue
            outcomes += await hop(self._conn, run_calls, before, calls, [f"SAVEPOINT {SAVEPOINT}"])
            before, calls = [], []
            if not unit.started.done():
                unit.started.set_result(None)
            ok = await unit.finished
            before = [f"RELEASE {SAVEPOINT}"] if ok else [f"ROLLBACK TO {SAVEPOINT}", f"RELEASE {SAVEPOINT}"]
        outcomes += await hop(self._conn, run_calls, before, calls, ["COMMIT"])
        answers = iter(outcomes)
        for unit in batch:
            if isinstance(unit, Calls):
                answer(unit, *next(answers))
            elif unit.finished.done() and unit.finished.result():
                answer(unit, True, None)

    async def _fail(self, batch: list[Calls | Block], err: Exception) -> None:
        """Roll the batch back and give its error to every unit still waiting."""
        try:
            await hop(self._conn, roll_back)
        except Exception:
            pass
        for unit in batch:
            if isinstance(unit, Calls):
                answer(unit, False, err)
            elif not unit.started.done():
                unit.started.set_exception(err)
            elif unit.finished.done() and unit.finished.result():
                answer(unit, False, err)


async def tx_fetch_all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
    """Return every row of a query run inside an open transaction."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())


async def tx_fetch_one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
    """Return the first row of a query run inside an open transaction, or None."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()
