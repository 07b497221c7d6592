"""Versioned schema migrations, on both backends, recorded in ``schema_migrations``.

Each migration has a version (never reused, never renumbered), a name and a step. Applying runs the missing
versions in order and records each one once it succeeded, so running it again does nothing. Steps must be
idempotent themselves: two processes starting at once may both run a step before either records it.
Version 1 is the baseline: every store's ``init()`` (tables, indexes and the column upgrades they do today).
A later schema or index change is a new entry at the end of ``MIGRATIONS``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config import Settings
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.calls import make_call_store
from storage.categories import make_category_store
from storage.chat import make_chat_store
from storage.database import Database
from storage.helpdesk_stats import make_helpdesk_stats_store
from storage.line_managers import make_line_manager_store
from storage.notify import make_notify_store
from storage.pool import make_pool_store
from storage.profiles import make_profile_store
from storage.queue import make_queue_store
from storage.recovery import make_recovery_store
from storage.tickets import make_ticket_store
from storage.visitors import make_visitor_store
from storage.workspaces import make_workspace_store

log = logging.getLogger("deskline.migrations")

Step = Callable[[Database, Settings], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    """One schema change: ``version`` orders it, ``step`` applies it (idempotently)."""

    version: int
    name: str
    step: Step


async def _baseline(db: Database, settings: Settings) -> None:
    """Create every store's tables/collections and indexes, upgrading older columns (the stores' ``init()``)."""
    stores: list[Any] = [
        make_account_store(db),
        make_chat_store(db),
        make_notify_store(db),
        make_recovery_store(db),
        make_queue_store(db),
        make_workspace_store(db),
        make_attachment_store(db, settings),
        make_pool_store(db),
        make_call_store(db),
        make_category_store(db),
        make_line_manager_store(db),
        make_ticket_store(db),
        make_visitor_store(db),
    ]
    for store in stores:
        await store.init()


async def _profiles(db: Database, settings: Settings) -> None:
    """Create the profile store (every existing account gets an empty profile) and the ticket resolution record."""
    await make_helpdesk_stats_store(db).init()
    store = make_profile_store(db)
    await store.init()
    log.info("event=migrate_profiles added=%s", await store.backfill())


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "baseline: every store's tables and indexes", _baseline),
    Migration(2, "profiles for every existing account; the record of ticket resolutions", _profiles),
)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


async def applied_versions(db: Database) -> set[int]:
    """Return the versions recorded as applied (creating the record table if missing)."""
    if db.kind == "mongo":
        docs = db.db["schema_migrations"].find({}, {"_id": 1})  # type: ignore[attr-defined]
        return {int(doc["_id"]) async for doc in docs}
    await db.create_schema(SQLITE_SCHEMA)  # type: ignore[attr-defined]
    rows = await db.fetch_all("SELECT version FROM schema_migrations")  # type: ignore[attr-defined]
    return {int(row["version"]) for row in rows}


async def _record(db: Database, migration: Migration) -> None:
    """Record ``migration`` as applied (a second record of it is a no-op)."""
    now = datetime.now(UTC)
    if db.kind == "mongo":
        await db.db["schema_migrations"].update_one(  # type: ignore[attr-defined]
            {"_id": migration.version},
            {"$setOnInsert": {"name": migration.name, "applied_at": now}},
            upsert=True,
        )
        return
    await db.execute(  # type: ignore[attr-defined]
        "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, now.isoformat()),
    )


async def migrate(db: Database, settings: Settings, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations not yet recorded, in version order; return the versions applied now."""
    done = await applied_versions(db)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        log.info("event=migrate version=%s name=%r", migration.version, migration.name)
        await migration.step(db, settings)
        await _record(db, migration)
        applied.append(migration.version)
    return applied
