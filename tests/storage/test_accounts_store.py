"""Account store contract, run against both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from auth.principal import Role
from models.accounts import NewUser
from models.errors import Conflict, NotFound
from storage.accounts import AccountStore, make_account_store
from storage.database import Database

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
    assert results.count(user.id) == 1 and results.count(None) == 3
    assert await store.rotate_refresh_token("missing", "x", NOW, NOW) is None
    await store.add_refresh_token("expired", user.id, NOW - timedelta(seconds=1))
    assert await store.rotate_refresh_token("expired", "y", NOW, NOW) is None
    await store.add_refresh_token("other", user.id, NOW + timedelta(days=1))
    assert await store.revoke_refresh_token("other", "someone-else") is False
    assert await store.revoke_refresh_token("other", user.id) is True
    assert await store.revoke_all_refresh_tokens(user.id) == 2  # the rotated-in one and the expired one


async def test_login_failures_count_in_window(store: AccountStore) -> None:
    await store.record_login_failure(["account:a", "address:1"], NOW)
    await store.record_login_failure(["account:a"], NOW + timedelta(minutes=3))
    assert await store.count_login_failures("account:a", NOW - timedelta(seconds=1)) == 2
    assert await store.count_login_failures("account:a", NOW + timedelta(minutes=1)) == 1
    assert await store.count_login_failures("address:1", NOW - timedelta(seconds=1)) == 1
    await store.clear_login_failures("account:a")
    assert await store.count_login_failures("account:a", NOW - timedelta(days=1)) == 0
