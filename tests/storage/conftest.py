"""Storage contract fixtures: one open database per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage import open_database
from storage.database import Database


@pytest.fixture
async def db(settings_for, backend: str) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    """An empty database of each backend in turn."""
    database = await open_database(settings_for(backend))
    yield database
    await database.close()
