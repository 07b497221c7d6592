"""The accounts tables on SQLite: users, refresh tokens, login limits and known addresses."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email TEXT UNIQUE,
    phone TEXT UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    session_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS users_created ON users (created_at, id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    family_id TEXT,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS login_limits (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    last_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_known_addresses (
    user_id TEXT NOT NULL,
    address TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
)
"""

# Columns added after the first release: (table, column, definition); old files get them at init.
UPGRADES = [
    ("users", "session_version", "INTEGER NOT NULL DEFAULT 0"),
    ("refresh_tokens", "family_id", "TEXT"),
    ("refresh_tokens", "version", "INTEGER NOT NULL DEFAULT 0"),
]
