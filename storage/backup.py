"""Online backup of the SQLite database with SQLite's backup API, safe while servers write to it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

PAGES_PER_STEP = 256  # copy in steps so writers are never held off for long


def backup_sqlite(source: Path, target: Path) -> str:
    """Copy the live database ``source`` into ``target`` (replaced) and return the copy's integrity check.

    ``sqlite3.Connection.backup`` reads a consistent snapshot; a write by another connection between
    steps makes SQLite restart the copy, so the result is always one committed state.
    """
    if not source.exists():
        raise FileNotFoundError(f"no SQLite database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            (result,) = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if result != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the copy failed its integrity check: {result}")
    partial.replace(target)
    return str(result)


async def backup_sqlite_async(source: Path, target: Path) -> str:
    """``backup_sqlite`` in a thread."""
    return await asyncio.to_thread(backup_sqlite, source, target)
