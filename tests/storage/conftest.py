"""Storage contract fixtures: one open database per backend, or several connections to one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from storage import open_database
from storage.database import Database
from storage.queue import QueueStore, make_queue_store

Opener = Callable[[], Awaitable[tuple[QueueStore, Database]]]


@pytest.fixture
async def db(settings_for, backend: str) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    """An empty database of each backend in turn."""
    database = await open_database(settings_for(backend))
    yield database
    await database.close()


@pytest.fixture
async def open_store(backend: str, settings_for: Any) -> AsyncIterator[Opener]:
    """Open queue stores on one fresh database, each on its own connection (as separate processes would)."""
    settings = settings_for(backend)
    dbs: list[Database] = []

    async def opener() -> tuple[QueueStore, Database]:
        db = await open_database(settings)
        dbs.append(db)
        store = make_queue_store(db)
        await store.init()
        return store, db

    yield opener
    for db in dbs:
        await db.close()
