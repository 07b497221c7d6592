"""SQLite backend (aiosqlite): the embedded default."""
