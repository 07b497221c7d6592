"""Recovery store contract, on both backends: single-use reset tokens, login codes with an attempt limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage import open_database
from storage.database import Database
from storage.recovery import RecoveryStore, make_recovery_store

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
RACERS = {"sqlite": 8, "mongo": 4}


@pytest.fixture
async def store(db: Database) -> RecoveryStore:
    """A recovery store on an empty database."""
    recovery = make_recovery_store(db)
    await recovery.init()
    return recovery


async def test_request_counts_per_key_and_window(store: RecoveryStore) -> None:
    for minute in (0, 10, 20):
        await store.record_request("reset:a@x.io", T0 + timedelta(minutes=minute), T0 - timedelta(hours=1))
    await store.record_request("reset:b@x.io", T0, T0 - timedelta(hours=1))
    assert await store.count_requests("reset:a@x.io", T0 - timedelta(seconds=1)) == 3
    assert await store.count_requests("reset:a@x.io", T0 + timedelta(minutes=5)) == 2
    assert await store.count_requests("reset:c@x.io", T0 - timedelta(hours=1)) == 0
    await store.record_request("reset:a@x.io", T0 + timedelta(hours=2), T0 + timedelta(minutes=15))
    assert await store.count_requests("reset:a@x.io", T0 - timedelta(days=1)) == 2, "old requests were not forgotten"


async def test_reset_token_is_single_use_and_expires(store: RecoveryStore) -> None:
    await store.add_reset_token("h1", "u1", T0 + timedelta(minutes=30), T0)
    await store.add_reset_token("h2", "u1", T0 + timedelta(minutes=30), T0)
    await store.add_reset_token("h3", "u2", T0 + timedelta(minutes=30), T0)
    assert await store.use_reset_token("nope", T0) is None
    assert await store.use_reset_token("h3", T0 + timedelta(minutes=30)) is None, "expired at its expiry"
    assert await store.use_reset_token("h1", T0 + timedelta(minutes=29)) == "u1"
    assert await store.use_reset_token("h1", T0 + timedelta(minutes=29)) is None
    assert await store.drop_reset_tokens("u1", T0) == 1
    assert await store.use_reset_token("h2", T0) is None


async def test_login_code_attempts_replacement_and_expiry(store: RecoveryStore) -> None:
    await store.put_login_code("+15550001", "u1", "right", T0 + timedelta(minutes=10), T0)
    for _ in range(4):
        assert await store.use_login_code("+15550001", "wrong", T0, 5) is None
    assert await store.use_login_code("+15550001", "right", T0, 5) == "u1"
    assert await store.use_login_code("+15550001", "right", T0, 5) is None, "a code works once"

    await store.put_login_code("+15550001", "u1", "again", T0 + timedelta(minutes=10), T0)
    for _ in range(5):
        assert await store.use_login_code("+15550001", "wrong", T0, 5) is None
    assert await store.use_login_code("+15550001", "again", T0, 5) is None, "a sixth attempt got through"

    await store.put_login_code("+15550001", "u1", "fresh", T0 + timedelta(minutes=10), T0)
    assert await store.use_login_code("+15550001", "fresh", T0 + timedelta(minutes=10), 5) is None
    assert await store.use_login_code("+15550002", "fresh", T0, 5) is None


async def test_a_token_and_a_code_are_used_once_under_concurrency(settings_for, backend: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(backend)
    databases = [await open_database(settings) for _ in range(RACERS[backend])]
    try:
        stores = [make_recovery_store(d) for d in databases]
        await stores[0].init()
        await stores[0].add_reset_token("h", "u1", T0 + timedelta(minutes=30), T0)
        await stores[0].put_login_code("+15550001", "u1", "right", T0 + timedelta(minutes=10), T0)
        tokens = await asyncio.gather(*(s.use_reset_token("h", T0) for s in stores))
        codes = await asyncio.gather(*(s.use_login_code("+15550001", "right", T0, 50) for s in stores))
        guesses = await asyncio.gather(*(s.use_login_code("+15550001", "x", T0, 50) for s in stores))
    finally:
        for database in databases:
            await database.close()
    assert [t for t in tokens if t is not None] == ["u1"], tokens
    assert [c for c in codes if c is not None] == ["u1"], codes
    assert guesses == [None] * len(stores)
