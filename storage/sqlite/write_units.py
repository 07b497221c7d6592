"""The SQLite writer's units of work: how each runs inside a batch's transaction and how its caller is answered."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

SAVEPOINT = "deskline_unit"

Call = Callable[[sqlite3.Connection], Any]


def statement_call(sql: str, params: tuple[Any, ...]) -> Call:
    """Return a call that runs one statement and gives the number of rows it changed."""
    return lambda raw: raw.execute(sql, params).rowcount


class Unit:
    """What every write unit has: the future its caller awaits, and how far the writer is with it."""

    __slots__ = ("answered", "done", "settled")

    def __init__(self, done: asyncio.Future[Any]) -> None:
        self.done = done
        self.answered = False  # the writer is through with the unit (committed, rolled back or failed)
        self.settled: asyncio.Future[None] | None = None  # made only for a caller cancelled while it waited


class Calls(Unit):
    """Units that run wholly on the writer's thread (statements, ``run`` functions)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Call, done: asyncio.Future[Any]) -> None:
        super().__init__(done)
        self.fn = fn


class Block(Unit):
    """A ``transaction()`` block: the caller runs its statements between ``started`` and ``finished``."""

    __slots__ = ("finished", "started")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop.create_future())
        self.started: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[bool] = loop.create_future()  # True: the body succeeded


def run_calls(
    raw: sqlite3.Connection, before: list[str], calls: list[Calls], after: list[str]
) -> list[tuple[bool, Any]]:
    """Run control statements, then each call in its own savepoint, then more control statements."""
    for sql in before:
        raw.execute(sql)
    outcomes: list[tuple[bool, Any]] = []
    for call in calls:
        raw.execute(f"SAVEPOINT {SAVEPOINT}")
        try:
            outcomes.append((True, call.fn(raw)))
        except Exception as err:
            outcomes.append((False, err))
            if not raw.in_transaction:
                raise  # SQLite rolled back the whole transaction (e.g. disk full): the batch fails
            raw.execute(f"ROLLBACK TO {SAVEPOINT}")
        raw.execute(f"RELEASE {SAVEPOINT}")
    for sql in after:
        raw.execute(sql)
    return outcomes


def roll_back(raw: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any."""
    if raw.in_transaction:
        raw.execute("ROLLBACK")


async def settled(unit: Unit, writer: asyncio.Task[None]) -> Any:
    """Return the unit's outcome; a caller cancelled meanwhile still waits for it (committed or failed), then is
    cancelled, so a write is never left pending once its caller has finished. Stops waiting if the writer is gone."""
    try:
        return await unit.done  # cancelling the caller cancels this future; the writer then answers ``settled``
    except asyncio.CancelledError:
        if not unit.answered:
            through = unit.settled = asyncio.get_running_loop().create_future()
            while not through.done() and not writer.done():
                try:
                    await asyncio.wait((through, writer), return_when=asyncio.FIRST_COMPLETED)
                except asyncio.CancelledError:
                    continue
        raise


def answer(unit: Unit, ok: bool, value: Any) -> None:
    """Give the unit's caller its result (``ok``) or error, unless it stopped waiting; the unit is done."""
    unit.answered = True
    if unit.settled is not None and not unit.settled.done():
        unit.settled.set_result(None)
    if unit.done.done():
        return
    if ok:
        unit.done.set_result(value)
    else:
        unit.done.set_exception(value)
