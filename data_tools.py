"""Maintenance commands of ``server.py``: migrate, backup (export/import: see issue 17's note)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from config import Settings
from storage import open_database
from storage.backup import backup_sqlite_async
from storage.migrations import MIGRATIONS, migrate

COMMANDS = ("migrate", "backup")


def add_commands(commands: Any) -> None:
    """Declare the data commands on ``server.py``'s sub-command parser."""
    commands.add_parser("migrate", help="apply pending schema and index migrations (idempotent)")
    backup = commands.add_parser("backup", help="copy the SQLite database online (safe while servers run)")
    backup.add_argument("--to", required=True, type=Path, help="file to write the copy to (replaced)")


async def migrate_only(settings: Settings) -> list[int]:
    """Open the database, apply pending migrations, close it; return the versions applied."""
    db = await open_database(settings)
    try:
        return await migrate(db, settings)
    finally:
        await db.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one data command; return the process exit code."""
    try:
        if args.command == "migrate":
            applied = asyncio.run(migrate_only(settings))
            latest = max(m.version for m in MIGRATIONS)
            print(f"migrated: applied={applied or 'none'} schema_version={latest}")
            return 0
        if args.command == "backup":
            if settings.mongo_url:
                print(
                    "error: backup copies the SQLite file; for MongoDB use mongodump/mongorestore (see README)",
                    file=sys.stderr,
                )
                return 2
            result = asyncio.run(backup_sqlite_async(settings.sqlite_path(), args.to))
            print(f"backup written: {args.to} integrity={result}")
            return 0
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)
