"""Workspace store contract, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.workspace_keys import new_api_key
from models.clock import to_millis
from models.common import utc_now
from models.errors import NotFound, Unauthorized
from models.workspaces import Member, WorkspaceRecord
from services.workspaces import authenticate_workspace
from storage.database import Database, new_id
from storage.workspaces import WorkspaceStore, make_workspace_store


@pytest.fixture
async def store(db: Database) -> WorkspaceStore:
    workspaces = make_workspace_store(db)
    await workspaces.init()
    await workspaces.init()
    return workspaces


def record(name: str, offset: int = 0) -> tuple[WorkspaceRecord, str]:
    key, key_hash, hint = new_api_key()
    now = to_millis(utc_now()) + timedelta(seconds=offset)
    return WorkspaceRecord(
        id=new_id(), name=name, key_hash=key_hash, key_hint=hint, created_at=now, updated_at=now
    ), key


def member(workspace_id: str, user_id: str, categories: list[str] | None = None, role: str = "agent") -> Member:
    return Member(
        workspace_id=workspace_id, user_id=user_id, role=role, categories=categories or [], created_at=utc_now()
    )  # type: ignore[arg-type]


async def test_create_find_list_update_delete(store: WorkspaceStore) -> None:
    first, key = record("one")
    second, _ = record("two", 1)
    created = await store.create(first)
    await store.create(second)
    secrets = {"key_hash", "widget_token", "widget_origins", "identity_secret", "widget_color", "widget_title"}
    assert created.model_dump() == first.model_dump(exclude=secrets)
    assert (await store.find(first.id)).key_hash == first.key_hash  # type: ignore[union-attr]
    assert await store.find("missing") is None
    assert [w.id for w in await store.list(None, 10)] == [first.id, second.id]
    assert [w.id for w in await store.list((first.created_at, first.id), 10)] == [second.id]

    later = first.created_at + timedelta(minutes=1)
    updated = await store.update(first.id, None, ["a", "b"], False, later)
    assert (updated.name, updated.products, updated.auto_assign, updated.updated_at) == (
        "one",
        ["a", "b"],
        False,
        later,
    )
    assert (await authenticate_workspace(store, first.id, key)).id == first.id
    new_key, new_hash, hint = new_api_key()
    assert (await store.set_key(first.id, new_hash, hint, later)).key_hint == hint
    with pytest.raises(Unauthorized):
        await authenticate_workspace(store, first.id, key)
    assert (await authenticate_workspace(store, first.id, new_key)).id == first.id

    await store.put_member(member(first.id, "u1"))
    assert await store.delete(first.id, later) == []
    assert await store.find(first.id) is None
    assert await store.list_members(first.id) == []
    for call in (store.delete(first.id, later), store.get(first.id), store.update(first.id, "x", None, None, later)):
        with pytest.raises(NotFound):
            await call


async def test_members_are_upserted_and_removed(store: WorkspaceStore) -> None:
    ws, _ = record("ws")
    await store.create(ws)
    await store.put_member(member(ws.id, "u1", ["c1"]))
    again = await store.put_member(member(ws.id, "u1", ["c2"], role="manager"))
    assert (again.role, again.categories, again.load) == ("manager", ["c2"], 0)
    assert [m.workspace_id for m in await store.memberships("u1")] == [ws.id]
    assert await store.remove_member(ws.id, "u1", ws.created_at) == []
    assert await store.get_member(ws.id, "u1") is None
    with pytest.raises(NotFound):
        await store.remove_member(ws.id, "u1", ws.created_at)


async def test_a_members_role_follows_their_account_in_every_workspace(store: WorkspaceStore) -> None:
    first, second = record("first")[0], record("second", 1)[0]
    for ws in (first, second):
        await store.create(ws)
        await store.put_member(member(ws.id, "u1", ["c1"], role="manager"))
    await store.put_member(member(first.id, "u2", role="manager"))
    assert await store.set_member_role("u1", "agent") == 2
    assert await store.set_member_role("u1", "agent") == 0  # nothing left to change
    for ws in (first, second):
        got = await store.get_member(ws.id, "u1")
        assert got is not None and (got.role, got.categories) == ("agent", ["c1"])
    other = await store.get_member(first.id, "u2")
    assert other is not None and other.role == "manager"  # another user's membership is untouched
