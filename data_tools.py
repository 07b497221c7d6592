"""Maintenance commands of ``server.py``: create-admin, migrate, backup, export and import of a workspace."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from auth.passwords import Passwords
from config import Settings
from models.clock import millis_clock
from models.common import utc_now
from models.roles import Role
from services.accounts import AccountService
from services.transfer import ImportReport, TransferStores, export_lines, import_lines
from storage import open_database
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.backup import backup_sqlite_async
from storage.categories import make_category_store
from storage.database import Database
from storage.helpdesk_stats import make_helpdesk_stats_store
from storage.line_managers import make_line_manager_store
from storage.migrations import MIGRATIONS, migrate
from storage.profiles import make_profile_store
from storage.tickets import make_ticket_store
from storage.visitors import make_visitor_store
from storage.workspaces import make_workspace_store

COMMANDS = ("migrate", "backup", "export", "import")


def add_commands(commands: Any) -> None:
    """Declare the data commands on ``server.py``'s sub-command parser."""
    commands.add_parser("migrate", help="apply pending schema and index migrations (idempotent)")
    backup = commands.add_parser("backup", help="copy the SQLite database online (safe while servers run)")
    backup.add_argument("--to", required=True, type=Path, help="file to write the copy to (replaced)")
    export = commands.add_parser("export", help="write one workspace as JSON lines (to another backend: import)")
    export.add_argument("--workspace", required=True, help="id of the workspace to export")
    export.add_argument("--to", type=Path, help="file to write (default: standard output)")
    into = commands.add_parser("import", help="store a workspace written by export into this database")
    into.add_argument("--from", dest="source", type=Path, help="file to read (default: standard input)")


async def create_admin(settings: Settings, email: str, password: str, name: str) -> None:
    """Create the first administrator account."""
    from handlers.events import parse_payload
    from models.accounts import CreateUserPayload

    payload = parse_payload(CreateUserPayload, {"email": email, "password": password, "name": name, "role": "admin"})
    db = await open_database(settings)
    try:
        store = make_account_store(db)
        await store.init()
        service = AccountService(store, Passwords.from_settings(settings), None, 0, timedelta())  # type: ignore[arg-type]
        now = millis_clock(utc_now)()
        user = await service.create(payload.email, None, payload.name, payload.password, Role.ADMIN, now)
        print(f"admin created: id={user.id} email={user.email}")
    finally:
        await db.close()


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
        if args.command == "export":
            count = asyncio.run(export_workspace(settings, args.workspace, args.to))
            print(f"exported: workspace={args.workspace} lines={count}", file=sys.stderr)
            return 0
        if args.command == "import":
            report = asyncio.run(import_workspace(settings, args.source))
            counts = " ".join(f"{kind}={n}" for kind, n in report.counts.items())
            print(f"imported: workspace={report.workspace_id} {counts}")
            return 0
    except Exception as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)


def _stores(db: Database, settings: Settings) -> TransferStores:
    return TransferStores(
        accounts=make_account_store(db),
        workspaces=make_workspace_store(db),
        categories=make_category_store(db),
        line_managers=make_line_manager_store(db),
        tickets=make_ticket_store(db),
        visitors=make_visitor_store(db),
        attachments=make_attachment_store(db, settings),
        profiles=make_profile_store(db),
        stats=make_helpdesk_stats_store(db),
    )


async def export_workspace(settings: Settings, workspace_id: str, target: Path | None) -> int:
    """Write the workspace's export lines to ``target`` (standard output if None); return how many."""
    db = await open_database(settings)
    out = target.open("w", encoding="utf-8") if target else sys.stdout
    count = 0
    try:
        async for line in export_lines(_stores(db, settings), workspace_id):
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            count += 1
    finally:
        if target:
            out.close()
        await db.close()
    return count


async def import_workspace(settings: Settings, source: Path | None) -> ImportReport:
    """Migrate this database, then store the workspace read from ``source`` (standard input if None)."""
    db = await open_database(settings)
    try:
        await migrate(db, settings)
        with source.open(encoding="utf-8") if source else sys.stdin as lines:
            return await import_lines(_stores(db, settings), (json.loads(line) for line in lines if line.strip()))
    finally:
        await db.close()
