"""Category store contract (categories and Dowell topics in one store), on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.clock import to_millis
from models.common import utc_now
from models.errors import Conflict, NotFound
from models.helpdesk import Category
from storage.categories import CategoryStore, make_category_store
from storage.database import Database, new_id
from storage.tickets import make_ticket_store

WS = "ws1"
NOW = to_millis(utc_now())


@pytest.fixture
async def store(db: Database) -> CategoryStore:
    await make_ticket_store(db).init()  # the tickets a category may be filed under
    categories = make_category_store(db)
    await categories.init()
    await categories.init()
    return categories


def category(name: str, kind: str = "category", seconds: int = 0, ws: str = WS) -> Category:
    at = NOW + timedelta(seconds=seconds)
    return Category(id=new_id(), workspace_id=ws, kind=kind, name=name, created_at=at, updated_at=at)  # type: ignore[arg-type]


async def test_names_are_unique_per_workspace_and_kind_in_any_case(store: CategoryStore) -> None:
    await store.create(category("Billing"))
    await store.create(category("BILLING", "topic"))  # another kind
    await store.create(category("billing", ws="ws2"))  # another workspace
    with pytest.raises(Conflict):
        await store.create(category("billing"))
    with pytest.raises(Conflict):
        await store.create(category("Billing", "topic"))


async def test_a_kind_lists_in_creation_order_and_every_kind_by_name(store: CategoryStore) -> None:
    late = await store.create(category("A_LATE", "topic", seconds=2))
    early = await store.create(category("Z_EARLY", "topic", seconds=1))
    plain = await store.create(category("Middle"))
    assert [c.id for c in await store.list_kind(WS, "topic")] == [early.id, late.id]
    assert [c.id for c in await store.list_kind(WS, "category")] == [plain.id]
    assert [c.id for c in await store.list_by_name(WS)] == [late.id, plain.id, early.id]
    assert await store.list_by_name("ws2") == []


async def test_rename_keeps_the_kind_and_checks_the_name(store: CategoryStore) -> None:
    topic = await store.create(category("ONE", "topic"))
    await store.create(category("TWO", "topic"))
    renamed = await store.update(topic.id, "THREE", None, NOW + timedelta(seconds=5))
    assert (renamed.kind, renamed.name, renamed.updated_at) == ("topic", "THREE", NOW + timedelta(seconds=5))
    with pytest.raises(Conflict):
        await store.update(topic.id, "two", None, NOW)
    with pytest.raises(NotFound):
        await store.update("nope", "x", None, NOW)
    await store.delete(topic.id)
    with pytest.raises(NotFound):
        await store.get(topic.id)
