"""Opening the SQLite connections (WAL mode, busy timeout, pragmas) and running code on their threads."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

BUSY_TIMEOUT_MS = 30_000

T = TypeVar("T")


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


async def connect(path: Path, pragmas: Iterable[str]) -> aiosqlite.Connection:
    """Open a connection to ``path`` in WAL mode with our pragmas (and ``pragmas``), rows as ``aiosqlite.Row``."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await _enable_wal(conn)
    for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", *pragmas):
        await conn.execute(f"PRAGMA {pragma}")
    return conn


async def hop(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(raw sqlite3 connection, *args)`` on the connection's thread: one trip there and back."""
    raw = conn._conn  # aiosqlite's own thread is the only one that touches it
    return await conn._execute(fn, raw, *args)
