"""WAL checkpoints off the commit path: a connection of their own copies committed pages into the database file.

SQLite's automatic checkpoint runs inside the COMMIT that crosses ``wal_autocheckpoint`` pages, so every few
hundred commits one writer's answer waits milliseconds for pages to be copied and synced. The writer connection
turns it off (``CHECKPOINT_OFF``) and ``Checkpointer`` runs a PASSIVE checkpoint (it never waits for readers or
writers, and none wait for it) on its own connection and thread once enough commits have gone by, or a second
after the first of them.

The WAL only starts over from its beginning once every frame in it has been copied, which a background
checkpoint never sees while the writer keeps writing. So once a checkpoint finds the WAL long, none starts in the
background until the writer has copied the few frames left itself, between two batches (``catch_up``); its next
transaction then starts the WAL over. Durability does not change: a commit is as durable as ``PRAGMA synchronous``
says when it returns, and a checkpoint only moves pages that are already in the WAL.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import aiosqlite

from storage.sqlite.connect import hop

log = logging.getLogger("deskline.sqlite")

CHECKPOINT_OFF = "wal_autocheckpoint=0"
COMMITS_PER_CHECKPOINT = 1000
SECONDS_PER_CHECKPOINT = 1.0
WAL_CATCH_UP_FRAMES = 2000  # 8 MB at 4 KiB pages


def _checkpoint(raw: sqlite3.Connection) -> int:
    """Copy what can be copied now; return the number of frames in the WAL."""
    _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


class Checkpointer:
    """Runs PASSIVE WAL checkpoints in the background, one at a time, as commits accumulate."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._commits = 0
        self._last = self._loop.time()
        self._running: asyncio.Task[None] | None = None
        self._later: asyncio.TimerHandle | None = None
        self._wal_long = False  # the last checkpoint found WAL_CATCH_UP_FRAMES or more: the writer's turn
        self._closing = False

    def committed(self) -> None:
        """Count one commit; a checkpoint starts once enough have gone by, or a second after the first of them."""
        self._commits += 1
        self._schedule()

    def _may_start(self) -> bool:
        """Return whether a checkpoint may start now: none running, commits to copy, not the writer's turn."""
        return self._running is None and self._commits > 0 and not self._wal_long and not self._closing

    def _schedule(self) -> None:
        if not self._may_start():
            return
        if self._commits >= COMMITS_PER_CHECKPOINT or self._loop.time() - self._last >= SECONDS_PER_CHECKPOINT:
            self._start()
        elif self._later is None:
            self._later = self._loop.call_later(SECONDS_PER_CHECKPOINT, self._start)

    def _start(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if not self._may_start():
            return
        self._commits, self._last = 0, self._loop.time()
        self._running = self._loop.create_task(self._run(), name="sqlite-checkpoint")

    async def _run(self) -> None:
        try:
            self._wal_long = await hop(self._conn, _checkpoint) >= WAL_CATCH_UP_FRAMES
        except Exception:  # a failed checkpoint loses nothing (the pages stay in the WAL); the next one retries
            log.exception("event=sqlite_checkpoint code=internal")
        finally:
            self._running = None
        self._schedule()  # for the commits that came in meanwhile

    async def catch_up(self, writer: aiosqlite.Connection) -> None:
        """Between two batches: once a checkpoint found the WAL long, copy what is left of it on the ``writer``
        connection, so that the writer's next transaction starts the WAL over; then checkpoints resume."""
        if not self._wal_long:
            return
        try:
            await hop(writer, _checkpoint)
        except Exception:  # the pages stay in the WAL; the background goes on
            log.exception("event=sqlite_checkpoint code=internal")
        self._wal_long = False
        self._schedule()

    async def close(self) -> None:
        """Wait for a running checkpoint, then close the connection (the last one closed checkpoints the rest)."""
        self._closing = True
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self._running is not None:
            await asyncio.shield(self._running)
        await self._conn.close()
