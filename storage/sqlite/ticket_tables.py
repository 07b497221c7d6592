"""The one ticket table and message history on SQLite, whichever door a ticket came in by, and its migration.

``tickets.door`` is ``signed_in`` (helpdesk), ``dowell`` (a workspace-key holder) or ``widget`` (a ``visitor-``
user). Dowell fields map as ``user_id`` → ``client_id``, ``line_manager`` → ``assignee_id``,
``is_closed`` ⇔ ``status = 'closed'``; ``message_data`` → ``body``, ``author`` → ``author_id``
(messages keep the Dowell ``workspace_id`` and ``product`` they were sent with; signed-in ones have no product).
``init_tickets`` copies the tables today's main wrote (``support_tickets``, ``support_messages``, ``hd_tickets``,
``hd_messages``) once, in one write transaction, and records it in ``migrations``; the old tables are no longer created.
"""

from __future__ import annotations

import aiosqlite

from storage.sqlite.db import SqliteDatabase
from storage.sqlite.once import run_once, table_exists

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    door TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    category_id TEXT,
    product TEXT,
    client_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    attachments TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    assignee_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_created ON tickets (created_at, id);
CREATE INDEX IF NOT EXISTS tickets_workspace ON tickets (workspace_id, status, created_at);
CREATE INDEX IF NOT EXISTS tickets_client ON tickets (workspace_id, client_id, created_at, id);
CREATE INDEX IF NOT EXISTS tickets_signed_in_client ON tickets (client_id, created_at);
CREATE INDEX IF NOT EXISTS tickets_assignee ON tickets (assignee_id, created_at);
CREATE INDEX IF NOT EXISTS tickets_category ON tickets (category_id);
CREATE INDEX IF NOT EXISTS tickets_product ON tickets (workspace_id, product, created_at, id);
CREATE INDEX IF NOT EXISTS tickets_line ON tickets (workspace_id, assignee_id, status, created_at, id);
CREATE TABLE IF NOT EXISTS ticket_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    workspace_id TEXT,
    product TEXT,
    author_id TEXT NOT NULL,
    author_role TEXT NOT NULL,
    body TEXT NOT NULL,
    reply_to TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    is_read INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ticket_messages_ticket ON ticket_messages (ticket_id, seq)
"""

MIGRATION = "tickets-one"

SIGNED_IN = "door = 'signed_in'"
NOT_SIGNED_IN = "door != 'signed_in'"

_COPIES = {
    "support_tickets": """INSERT OR IGNORE INTO tickets (id, door, workspace_id, category_id, product, client_id,
        title, body, attachments, status, assignee_id, created_at, updated_at)
        SELECT id, CASE WHEN user_id LIKE 'visitor-%' THEN 'widget' ELSE 'dowell' END, workspace_id, NULL, product,
        user_id, '', '', '[]', CASE WHEN is_closed THEN 'closed' ELSE 'open' END, line_manager, created_at, updated_at
        FROM support_tickets ORDER BY created_at, id""",
    "support_messages": """INSERT OR IGNORE INTO ticket_messages (id, ticket_id, workspace_id, product, author_id,
        author_role, body, reply_to, attachments, is_read, created_at)
        SELECT id, ticket_id, workspace_id, product, author,
        CASE WHEN author LIKE 'visitor-%' THEN 'visitor' ELSE 'dowell' END,
        message_data, reply_to, attachments, is_read, created_at FROM support_messages ORDER BY seq""",
    "hd_tickets": """INSERT OR IGNORE INTO tickets (id, door, workspace_id, category_id, product, client_id,
        title, body, attachments, status, assignee_id, created_at, updated_at)
        SELECT id, 'signed_in', workspace_id, category_id, NULL, client_id, title, body, attachments, status,
        assignee_id, created_at, updated_at FROM hd_tickets ORDER BY created_at, id""",
    "hd_messages": """INSERT OR IGNORE INTO ticket_messages (id, ticket_id, workspace_id, product, author_id,
        author_role, body, reply_to, attachments, is_read, created_at)
        SELECT id, ticket_id, (SELECT workspace_id FROM hd_tickets t WHERE t.id = ticket_id), NULL,
        author_id, author_role, body, NULL, attachments, 0, created_at
        FROM hd_messages ORDER BY seq""",
}


def door_of(user_id: str) -> str:
    """Return the door a Dowell-shaped ticket of ``user_id`` came in by (``widget`` for a visitor)."""
    return "widget" if user_id.startswith("visitor-") else "dowell"


async def init_tickets(db: SqliteDatabase) -> None:
    """Create the unified ticket tables if missing, then copy today's ``support_*``/``hd_*`` rows once."""
    await db.create_schema(SCHEMA)

    async def copy(conn: aiosqlite.Connection) -> None:
        for table, statement in _COPIES.items():
            if await table_exists(conn, table):
                await conn.execute(statement)

    await run_once(db, MIGRATION, copy)
