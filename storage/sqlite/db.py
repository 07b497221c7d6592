"""One SQLite file shared by every repository of a process (and by other processes).

Writes go through one writer connection with group commit: the write units that are queued
together (single statements, ``run`` functions and whole ``transaction()`` blocks) run inside
one ``BEGIN IMMEDIATE ... COMMIT``, each unit in its own savepoint, so a failing unit is rolled
back alone. Each unit's caller is answered only after that COMMIT has returned, so nothing is
acknowledged before it is durable at ``PRAGMA synchronous``'s level; a caller cancelled once its unit
is queued finishes only when that unit is committed or rolled back. Consecutive statements and
``run`` functions share one trip to the writer's thread. Reads use their own connection in WAL
mode, one thread trip per query, and never wait behind a write.
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

MAX_BATCH = 256  # units per transaction
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
_SAVEPOINT = "deskline_unit"

T = TypeVar("T")
Call = Callable[[sqlite3.Connection], Any]


def _fetch_all(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
    return raw.execute(sql, params).fetchall()


def _fetch_one(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    cursor = raw.execute(sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


def _statement(sql: str, params: tuple[Any, ...]) -> Call:
    return lambda raw: raw.execute(sql, params).rowcount


class _Calls:
    """Units that run wholly on the writer's thread (statements, ``run`` functions)."""

    __slots__ = ("answered", "done", "fn", "settled")

    def __init__(self, fn: Call, done: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.done = done
        self.answered = False  # the writer is through with the unit (committed, rolled back or failed)
        self.settled: asyncio.Future[None] | None = None  # made only for a caller cancelled while it waited


class _Block:
    """A ``transaction()`` block: the caller runs its statements between ``started`` and ``finished``."""

    __slots__ = ("answered", "done", "finished", "settled", "started")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.started: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[bool] = loop.create_future()  # True: the body succeeded
        self.done: asyncio.Future[None] = loop.create_future()
        self.answered = False
        self.settled: asyncio.Future[None] | None = None


def _run_calls(
    raw: sqlite3.Connection, before: list[str], calls: list[_Calls], after: list[str]
) -> list[tuple[bool, Any]]:
    """Run control statements, then each call in its own savepoint, then more control statements."""
    for sql in before:
        raw.execute(sql)
    outcomes: list[tuple[bool, Any]] = []
    for call in calls:
        raw.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            outcomes.append((True, call.fn(raw)))
        except Exception as err:
            outcomes.append((False, err))
            if not raw.in_transaction:
                raise  # SQLite rolled back the whole transaction (e.g. disk full): the batch fails
            raw.execute(f"ROLLBACK TO {_SAVEPOINT}")
        raw.execute(f"RELEASE {_SAVEPOINT}")
    for sql in after:
        raw.execute(sql)
    return outcomes


def _roll_back(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.execute("ROLLBACK")


async def _settled(unit: _Calls | _Block, writer: asyncio.Task[None]) -> Any:
    """Return the unit's outcome; a caller cancelled meanwhile still waits for it (committed or failed), then is
    cancelled, so a write is never left pending once its caller has finished. Stops waiting if the writer is gone."""
    try:
        return await unit.done  # cancelling the caller cancels this future; the writer then answers ``settled``
    except asyncio.CancelledError:
        if not unit.answered:
            settled = unit.settled = asyncio.get_running_loop().create_future()
            while not settled.done() and not writer.done():
                try:
                    await asyncio.wait((settled, writer), return_when=asyncio.FIRST_COMPLETED)
                except asyncio.CancelledError:
                    continue
        raise


def _answer(unit: _Calls | _Block, ok: bool, value: Any) -> None:
    unit.answered = True
    if unit.settled is not None and not unit.settled.done():
        unit.settled.set_result(None)
    if unit.done.done():
        return
    if ok:
        unit.done.set_result(value)
    else:
        unit.done.set_exception(value)


class SqliteDatabase:
    """An SQLite file in WAL mode: one group-committing writer connection and one reader connection.

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
        self._queue: deque[_Calls | _Block] = deque()
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

    def _submit(self, unit: _Calls | _Block) -> None:
        if self._closing:
            raise RuntimeError("the database is closed")
        self._queue.append(unit)
        self._wake.set()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the writer's thread as one atomic write unit; return its result once committed.

        ``fn`` must not touch the event loop; an exception it raises rolls back its own changes only.
        """
        unit = _Calls(fn, asyncio.get_running_loop().create_future())
        self._submit(unit)
        return await _settled(unit, self._task)  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write statement atomically and return the number of rows it changed, once committed."""
        return await self.run(_statement(sql, tuple(params)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block as one atomic, isolated write unit; answer after the COMMIT holding it, or roll it back."""
        block = _Block(asyncio.get_running_loop())
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
        await _settled(block, self._task)

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

    async def _commit(self, batch: list[_Calls | _Block]) -> None:
        """Run ``batch`` in one transaction, then answer every unit."""
        before, calls, outcomes = ["BEGIN IMMEDIATE"], [], []
        for unit in batch:
            if isinstance(unit, _Calls):
                calls.append(unit)
                continue
            if unit.finished.done():  # cancelled before its turn
                continue
            outcomes += await hop(self._conn, _run_calls, before, calls, [f"SAVEPOINT {_SAVEPOINT}"])
            before, calls = [], []
            if not unit.started.done():
                unit.started.set_result(None)
            ok = await unit.finished
            before = [f"RELEASE {_SAVEPOINT}"] if ok else [f"ROLLBACK TO {_SAVEPOINT}", f"RELEASE {_SAVEPOINT}"]
        outcomes += await hop(self._conn, _run_calls, before, calls, ["COMMIT"])
        answers = iter(outcomes)
        for unit in batch:
            if isinstance(unit, _Calls):
                _answer(unit, *next(answers))
            elif unit.finished.done() and unit.finished.result():
                _answer(unit, True, None)

    async def _fail(self, batch: list[_Calls | _Block], err: Exception) -> None:
        """Roll the batch back and give its error to every unit still waiting."""
        try:
            await hop(self._conn, _roll_back)
        except Exception:
            pass
        for unit in batch:
            if isinstance(unit, _Calls):
                _answer(unit, False, err)
            elif not unit.started.done():
                unit.started.set_exception(err)
            elif unit.finished.done() and unit.finished.result():
                _answer(unit, False, err)


async def tx_fetch_all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
    """Return every row of a query run inside an open transaction."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())


async def tx_fetch_one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
    """Return the first row of a query run inside an open transaction, or None."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()
