"""Account store contract, run against both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.accounts import NewUser, RefreshGrant
from models.errors import Conflict, NotFound
from models.logins import LoginLimit
from models.roles import Role
from storage import open_database
from storage.accounts import AccountStore, make_account_store
from storage.database import Database
from storage.sqlite.convert import iso

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(db: Database) -> AccountStore:
    accounts = make_account_store(db)
    await accounts.init()
    await accounts.init()  # idempotent
    return accounts


def new(email: str | None = None, phone: str | None = None, role: Role = Role.CLIENT) -> NewUser:
    return NewUser(email=email, phone=phone, name="N", role=role, password_hash="h")


async def test_users_round_trip_and_unique_contacts(store: AccountStore) -> None:
    ana = await store.create_user(new("ana@example.com"), NOW)
    assert (await store.get_user(ana.id)).email == "ana@example.com"
    with pytest.raises(Conflict):
        await store.create_user(new("ana@example.com"), NOW)
    phone_only = await store.create_user(new(phone="+4915112345678"), NOW)
    other_phone_only = await store.create_user(new(phone="+4915112345679"), NOW)
    assert phone_only.email is None and other_phone_only.email is None
    with pytest.raises(Conflict):
        await store.create_user(new(phone="+4915112345678"), NOW)
    found = await store.find_by_contact(None, "+4915112345678")
    assert found is not None and found.id == phone_only.id
    assert await store.find_by_contact("nobody@example.com", None) is None
    with pytest.raises(NotFound):
        await store.get_user("0" * 24)


async def test_concurrent_duplicate_registration_creates_one(store: AccountStore) -> None:
    results = await asyncio.gather(
        *(store.create_user(new("race@example.com"), NOW) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))


async def test_list_update_and_pagination(store: AccountStore) -> None:
    for i in range(5):
        await store.create_user(
            new(f"u{i}@example.com", role=Role.AGENT if i % 2 else Role.CLIENT), NOW + timedelta(seconds=i)
        )
    first = await store.list_users(None, None, 3)
    rest = await store.list_users(None, (first[-1].created_at, first[-1].id), 3)
    assert [u.email for u in first + rest] == [f"u{i}@example.com" for i in range(5)]
    agents = await store.list_users(Role.AGENT, None, 10)
    assert [u.email for u in agents] == ["u1@example.com", "u3@example.com"]
    updated = await store.update_user(first[0].id, "Renamed", Role.MANAGER, False)
    assert (updated.name, updated.role, updated.active) == ("Renamed", Role.MANAGER, False)
    with pytest.raises(NotFound):
        await store.update_user("0" * 24, "x", None, None)
    await store.set_password_hash(first[0].id, "new-hash")
    assert (await store.get_user(first[0].id)).password_hash == "new-hash"


async def test_refresh_tokens_rotate_once(store: AccountStore) -> None:
    user = await store.create_user(new("t@example.com"), NOW)
    await store.add_refresh_token("old", user.id, NOW + timedelta(days=1))
    results = await asyncio.gather(
        *(store.rotate_refresh_token("old", f"new{i}", NOW + timedelta(days=2), NOW) for i in range(4))
    )
    granted = [r for r in results if r is not None]
    assert len(granted) == 1 and results.count(None) == 3
    assert (granted[0].user_id, granted[0].family_id, granted[0].version) == (user.id, "old", 0)
    assert await store.rotate_refresh_token("missing", "x", NOW, NOW) is None
    await store.add_refresh_token("expired", user.id, NOW - timedelta(seconds=1))
    assert await store.rotate_refresh_token("expired", "y", NOW, NOW) is None
    await store.add_refresh_token("other", user.id, NOW + timedelta(days=1))
    assert await store.revoke_refresh_token("other", "someone-else") is False
    assert await store.revoke_refresh_token("other", user.id) is True
    assert await store.revoke_all_refresh_tokens(user.id) == 2  # the rotated-in one and the expired one


async def test_login_reservations_count_in_a_window_and_release(store: AccountStore) -> None:
    window = timedelta(minutes=5)
    limits = [LoginLimit("account:a", 2, window), LoginLimit("address:1", 3, window)]
    assert await store.reserve_login(limits, NOW) is None
    assert await store.reserve_login(limits, NOW + timedelta(minutes=1)) is None
    assert await store.reserve_login(limits, NOW + timedelta(minutes=2)) == 180  # account full until NOW + 5 min
    assert (await store.login_counter("address:1")).count == 2  # type: ignore[union-attr]  # the refusal took nothing
    await store.release_login(["account:a", "address:1"], NOW + timedelta(minutes=1))
    counter = await store.login_counter("account:a")
    assert counter is not None and counter.count == 1 and counter.window_start == NOW
    assert await store.reserve_login(limits, NOW + timedelta(minutes=5)) is None  # a new window
    assert (await store.login_counter("account:a")).count == 1  # type: ignore[union-attr]
    await store.release_login(["account:a"], NOW)  # reserved in a past window: nothing to give back
    assert (await store.login_counter("account:a")).count == 1  # type: ignore[union-attr]
    await store.clear_login_failures("account:a")
    assert await store.login_counter("account:a") is None


async def test_login_backoff_spaces_attempts_past_the_limit(store: AccountStore) -> None:
    limit = [LoginLimit("account:b", 1, timedelta(minutes=5), backoff=True)]
    assert await store.reserve_login(limit, NOW) is None
    assert await store.reserve_login(limit, NOW) == 1
    assert await store.reserve_login(limit, NOW + timedelta(seconds=1)) is None
    assert await store.reserve_login(limit, NOW + timedelta(seconds=2)) == 1  # now 2 s after the last one
    assert await store.reserve_login(limit, NOW + timedelta(seconds=3)) is None


async def test_known_addresses(store: AccountStore) -> None:
    assert await store.is_known_address("u1", "10.0.0.1") is False
    await store.remember_address("u1", "10.0.0.1", NOW)
    await store.remember_address("u1", "10.0.0.1", NOW + timedelta(days=1))
    assert await store.is_known_address("u1", "10.0.0.1") is True
    assert await store.is_known_address("u1", "10.0.0.2") is False
    assert await store.is_known_address("u2", "10.0.0.1") is False


async def test_concurrent_reservations_never_pass_the_limit(backend: str, settings_for: Any) -> None:
    settings = settings_for(backend)
    dbs = [await open_database(settings) for _ in range(4)]  # separate connections, as separate processes
    try:
        stores = [make_account_store(db) for db in dbs]
        await stores[0].init()
        limits = [LoginLimit("account:c", 5, timedelta(minutes=5)), LoginLimit("address:9", 5, timedelta(minutes=5))]
        results = await asyncio.gather(*(stores[i % 4].reserve_login(limits, NOW) for i in range(40)))
        assert sum(r is None for r in results) == 5
        assert all(r == 300 for r in results if r is not None)
        assert (await stores[1].login_counter("address:9")).count == 5  # type: ignore[union-attr]
    finally:
        for db in dbs:
            await db.close()


async def test_rotation_keeps_the_family_and_reuse_revokes_all_of_it(store: AccountStore) -> None:
    user = await store.create_user(new("f@example.com"), NOW)
    later = NOW + timedelta(days=1)
    await store.add_refresh_token("a1", user.id, later, "fam-a", 3)
    await store.add_refresh_token("b1", user.id, later, "fam-b", 3)  # another device: another family
    assert await store.rotate_refresh_token("a1", "a2", later, NOW) == RefreshGrant(
        user_id=user.id, family_id="fam-a", version=3
    )
    assert await store.rotate_refresh_token("a2", "a3", later, NOW) == RefreshGrant(
        user_id=user.id, family_id="fam-a", version=3
    )
    assert await store.rotate_refresh_token("a1", "x", later, NOW) is None  # the used token comes back
    assert await store.revoke_refresh_family("a1") == user.id
    assert await store.rotate_refresh_token("a3", "a4", later, NOW) is None  # the family's live token died
    assert await store.rotate_refresh_token("b1", "b2", later, NOW) is not None  # the other family lives
    assert await store.revoke_refresh_family("never-issued") is None


async def test_family_reuse_racing_a_rotation_leaves_no_live_token(store: AccountStore) -> None:
    user = await store.create_user(new("r@example.com"), NOW)
    later = NOW + timedelta(days=1)
    for round_ in range(5):
        await store.add_refresh_token(f"r{round_}-1", user.id, later, f"fam{round_}")
        assert await store.rotate_refresh_token(f"r{round_}-1", f"r{round_}-2", later, NOW) is not None
        rotated, _ = await asyncio.gather(
            store.rotate_refresh_token(f"r{round_}-2", f"r{round_}-3", later, NOW),
            store.revoke_refresh_family(f"r{round_}-1"),
        )
        live = [h for h in (f"r{round_}-2", f"r{round_}-3") if await store.revoke_refresh_token(h, user.id)]
        assert live == [], (round_, rotated, live)


async def test_end_sessions_bumps_the_version_and_revokes_every_token(store: AccountStore) -> None:
    user = await store.create_user(new("e@example.com"), NOW)
    assert await store.session_version(user.id) == 0
    assert (await store.get_user(user.id)).session_version == 0
    for token in ("t1", "t2"):
        await store.add_refresh_token(token, user.id, NOW + timedelta(days=1))
    assert await store.end_sessions(user.id) == 2
    assert await store.session_version(user.id) == 1
    assert (await store.get_user(user.id)).session_version == 1
    assert await store.rotate_refresh_token("t1", "t3", NOW + timedelta(days=1), NOW) is None
    assert await store.end_sessions(user.id) == 0
    assert await store.session_version(user.id) == 2
    assert "session_version" not in (await store.list_users(None, None, 10))[0].model_dump()
    await store.update_user(user.id, None, None, False)
    assert await store.session_version(user.id) is None  # deactivated
    assert await store.session_version("0" * 24) is None
    with pytest.raises(NotFound):
        await store.end_sessions("0" * 24)


OLD_SQLITE_SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE, phone TEXT UNIQUE, name TEXT NOT NULL,
    role TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0)
"""


async def _old_account_and_token(db: Database, backend: str) -> None:
    """Store a user and a refresh token the way the release before session versions did."""
    later = NOW + timedelta(days=1)
    if backend == "sqlite":
        await db.create_schema(OLD_SQLITE_SCHEMA)  # type: ignore[attr-defined]
        await db.execute(  # type: ignore[attr-defined]
            "INSERT INTO users VALUES ('u-old', 'old@example.com', NULL, 'Old', 'agent', 1, 'h', ?)", (iso(NOW),)
        )
        await db.execute(  # type: ignore[attr-defined]
            "INSERT INTO refresh_tokens VALUES ('h-old', 'u-old', ?, 0)", (iso(later),)
        )
    else:
        users, tokens = db.db["users"], db.db["refresh_tokens"]  # type: ignore[attr-defined]
        doc = {"email": "old@example.com", "name": "Old", "role": "agent", "active": True, "password_hash": "h"}
        await users.insert_one({"_id": "u-old", **doc, "created_at": NOW})
        await tokens.insert_one({"_id": "h-old", "user_id": "u-old", "expires_at": later, "revoked": False})


async def test_accounts_and_tokens_from_before_session_versions_keep_working(db: Database, backend: str) -> None:
    await _old_account_and_token(db, backend)
    store = make_account_store(db)
    await store.init()  # SQLite: adds the new columns to the old tables
    await store.init()
    assert (await store.get_user("u-old")).session_version == 0
    assert await store.session_version("u-old") == 0
    later = NOW + timedelta(days=1)
    assert await store.rotate_refresh_token("h-old", "h-new", later, NOW) == RefreshGrant(
        user_id="u-old", family_id="h-old", version=0
    )
    assert await store.rotate_refresh_token("h-old", "h-x", later, NOW) is None
    assert await store.revoke_refresh_family("h-old") == "u-old"  # reaches the successor too
    assert await store.rotate_refresh_token("h-new", "h-y", later, NOW) is None
    assert await store.end_sessions("u-old") == 0
    assert await store.session_version("u-old") == 1
