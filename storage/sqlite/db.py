"""One SQLite file shared by every repository of a process (and by other processes)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite

BUSY_TIMEOUT_MS = 30_000


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch the file to WAL (kept in the file), even while other processes open it at the same moment.

    Connections switching a new file at once deadlock (each holds a shared lock and wants an exclusive
    one), so every one but the first fails with "database is locked" after its busy timeout. Hence a
    short timeout and a retry after a random pause, until BUSY_TIMEOUT_MS has passed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
    await conn.execute("PRAGMA busy_timeout=20")
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or loop.time() > deadline:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.05))


class SqliteDatabase:
    """An aiosqlite connection in WAL mode, with explicit write transactions.

    Cross-process atomicity comes from SQLite itself (``BEGIN IMMEDIATE`` takes the
    database's write lock). The asyncio lock only keeps this process's coroutines from
    interleaving statements on the one shared connection.
    """

    kind: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        """Open (creating if needed) the database file at ``path``."""
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await _enable_wal(conn)
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        return cls(conn, path)

    async def ping(self) -> bool:
        """Return True when the file can be read."""
        try:
            async with self._lock:
                await self._conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        """Close the connection (a second call does nothing)."""
        await self._conn.close()

    async def create_schema(self, script: str) -> None:
        """Run a ``CREATE ... IF NOT EXISTS`` script."""
        async with self.transaction() as conn:
            for statement in script.split(";"):
                if statement.strip():
                    await conn.execute(statement)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block inside one write transaction; commit on success, roll back on error."""
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                await self._abandon()  # cancelled while BEGIN was queued: it still runs, so undo it
                raise
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _abandon(self) -> None:
        """Roll back a transaction that may or may not have begun (statements run in order on one thread)."""
        try:
            await self._conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # BEGIN failed (busy): there is nothing to roll back

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Return every row of a read query."""
        async with self._lock:
            async with self._conn.execute(sql, tuple(params)) as cursor:
                return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """Return the first row of a read query, or None."""
        async with self._lock:
            async with self._conn.execute(sql, tuple(params)) as cursor:
                return await cursor.fetchone()

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write statement atomically and return the number of rows it changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, tuple(params))
            return cursor.rowcount


async def tx_fetch_all(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
    """Return every row of a query run inside an open transaction."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return list(await cursor.fetchall())


async def tx_fetch_one(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
    """Return the first row of a query run inside an open transaction, or None."""
    async with conn.execute(sql, tuple(params)) as cursor:
        return await cursor.fetchone()
