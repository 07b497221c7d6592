"""All database access: repository interfaces here, one backend per sub-package."""

from __future__ import annotations

from config import Settings
from storage.database import Database


async def open_database(settings: Settings) -> Database:
    """Open the backend the settings name: MongoDB when MONGO_URL is set, else SQLite."""
    if settings.mongo_url:
        from storage.mongo.db import MongoDatabase

        return await MongoDatabase.open(settings.mongo_url, settings.mongo_db)
    from storage.sqlite.db import SqliteDatabase

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return await SqliteDatabase.open(settings.sqlite_path(), settings.sqlite_synchronous)
