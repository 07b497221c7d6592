"""Widget tokens on workspaces, widget visitors and a visitor's tickets: the store contract on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

from auth.widget_tokens import hash_secret, new_visitor_secret
from auth.workspace_keys import new_api_key
from models.clock import to_millis
from models.common import utc_now
from models.errors import NotFound
from models.support import line_ticket
from models.widget import TicketRating, VisitorRecord, new_widget_token
from models.workspaces import WorkspaceRecord
from storage.database import Database, new_id
from storage.line_managers import make_line_manager_store
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase
from storage.tickets import make_ticket_store
from storage.visitors import VisitorStore, make_visitor_store
from storage.workspaces import WorkspaceStore, make_workspace_store

NOW = to_millis(utc_now())
STORE_FAILED = (sqlite3.IntegrityError, DuplicateKeyError)


@pytest.fixture
async def workspaces(db: Database) -> WorkspaceStore:
    store = make_workspace_store(db)
    await store.init()
    return store


@pytest.fixture
async def visitors(db: Database) -> VisitorStore:
    store = make_visitor_store(db)
    await store.init()
    await store.init()
    return store


def workspace(token: str | None = None) -> WorkspaceRecord:
    _, key_hash, hint = new_api_key()
    return WorkspaceRecord(
        id=new_id(), name="Shop", key_hash=key_hash, key_hint=hint, created_at=NOW, updated_at=NOW, widget_token=token
    )


def visitor(workspace_id: str, identifier: str | None = None) -> tuple[VisitorRecord, str]:
    secret, secret_hash = new_visitor_secret()
    made = VisitorRecord(
        id=f"visitor-{new_id()}",
        workspace_id=workspace_id,
        identifier=identifier,
        secret_hash=secret_hash,
        created_at=NOW,
    )
    return made, secret


async def test_a_token_finds_its_workspace_until_rotated_and_tokens_are_unique(workspaces: WorkspaceStore) -> None:
    first, second = workspace(new_widget_token()), workspace(new_widget_token())
    await workspaces.create(first)
    await workspaces.create(second)
    assert first.widget_token and second.widget_token
    found = await workspaces.find_by_widget_token(first.widget_token)
    assert found is not None and found.id == first.id and found.widget_origins == [] and found.identity_secret is None
    assert await workspaces.find_by_widget_token("wt_unknown") is None

    fresh = new_widget_token()
    rotated = await workspaces.set_widget_token(first.id, fresh, NOW)
    assert rotated.widget_token == fresh
    assert await workspaces.find_by_widget_token(first.widget_token) is None
    kept = await workspaces.set_widget_token(first.id, new_widget_token(), None)
    assert kept.widget_token == fresh, "without now, a workspace that has a token keeps it"
    with pytest.raises(STORE_FAILED):
        await workspaces.set_widget_token(second.id, fresh, NOW)
    with pytest.raises(NotFound):
        await workspaces.set_widget_token("missing", new_widget_token(), NOW)

    origins = await workspaces.set_widget_origins(first.id, ["https://shop.example.com"], NOW)
    assert origins.widget_origins == ["https://shop.example.com"]
    secret = await workspaces.set_identity_secret(first.id, "wi_secret", NOW)
    assert secret.identity_secret == "wi_secret" and secret.widget_token == fresh
    public = await workspaces.get(first.id)
    assert "wi_secret" not in public.model_dump_json() and fresh not in public.model_dump_json()


async def test_a_workspace_stored_before_widget_tokens_gets_one_at_start(db: Database) -> None:
    store = make_workspace_store(db)
    await store.init()
    old = workspace()
    if db.kind == "mongo":
        doc = old.model_dump(exclude={"widget_token", "widget_origins", "identity_secret"})
        doc["_id"] = doc.pop("id")
        await db.db["workspaces"].insert_one(doc)  # type: ignore[attr-defined]
    else:
        await store.create(old)  # widget_token NULL, as the upgraded column holds for old rows
    await store.init()
    await store.init()
    found = await store.find(old.id)
    assert found is not None and found.widget_token and found.widget_token.startswith("wt_")
    assert (await store.find_by_widget_token(found.widget_token)).id == old.id  # type: ignore[union-attr]


async def test_an_sqlite_workspaces_table_from_before_widget_tokens_is_upgraded(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "old.db")
    try:
        await db.execute(
            "CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, products TEXT NOT NULL, auto_assign "
            "INTEGER NOT NULL, key_hash TEXT NOT NULL, key_hint TEXT NOT NULL, created_at TEXT NOT NULL, "
            "updated_at TEXT NOT NULL)"
        )
        await db.execute(
            "INSERT INTO workspaces VALUES ('w1', 'Old', '[\"shop\"]', 1, 'h', 'dk_abcd', ?, ?), "
            "('w2', 'Older', '[]', 0, 'h2', 'dk_efgh', ?, ?)",
            (iso(NOW), iso(NOW), iso(NOW), iso(NOW)),
        )
        store = make_workspace_store(db)
        await store.init()
        await store.init()
        one, two = await store.find("w1"), await store.find("w2")
        assert one is not None and two is not None
        assert one.name == "Old" and one.products == ["shop"] and one.key_hash == "h" and one.widget_origins == []
        assert one.widget_token and two.widget_token and one.widget_token != two.widget_token
        assert (await store.find_by_widget_token(two.widget_token)).id == "w2"  # type: ignore[union-attr]
    finally:
        await db.close()


async def test_visitors_are_found_by_secret_only_in_their_workspace(visitors: VisitorStore) -> None:
    mine, secret = visitor("w1")
    assert await visitors.add(mine) == mine
    assert await visitors.find_by_secret("w1", hash_secret(secret)) == mine
    assert await visitors.find_by_secret("w2", hash_secret(secret)) is None
    assert await visitors.find_by_secret("w1", hash_secret(secret + "x")) is None
    assert await visitors.get("w1", mine.id) == mine
    assert await visitors.get("w2", mine.id) is None
    twin = mine.model_copy(update={"id": f"visitor-{new_id()}"})
    with pytest.raises(STORE_FAILED):
        await visitors.add(twin)  # one secret, one visitor


async def test_one_verified_identifier_is_one_visitor_even_when_two_devices_start_at_once(
    visitors: VisitorStore,
) -> None:
    attempts = [visitor("w1", "customer-42")[0] for _ in range(6)]
    stored = await asyncio.gather(*(visitors.add(a) for a in attempts))
    assert len({s.id for s in stored}) == 1
    assert (await visitors.find_by_identifier("w1", "customer-42")).id == stored[0].id  # type: ignore[union-attr]
    other = await visitors.add(visitor("w2", "customer-42")[0])
    assert other.id != stored[0].id, "identifiers are per workspace"
    anonymous = [await visitors.add(visitor("w1")[0]) for _ in range(2)]
    assert anonymous[0].id != anonymous[1].id, "visitors without an identifier never merge"


async def test_a_visitor_lists_only_their_own_tickets(db: Database) -> None:
    from models.support import LineManager

    support, line = make_ticket_store(db), make_line_manager_store(db)
    await support.init()
    await line.init()
    manager = LineManager(
        id=new_id(),
        user_id="lm",
        positions_in_a_line=1,
        average_serving_time=2,
        ticket_count=0,
        workspace_id="w1",
        created_at=NOW,
    )
    await line.create(manager)
    first = await support.open_ticket(line_ticket(new_id(), "w1", "visitor-a", "shop", NOW))
    await support.open_ticket(line_ticket(new_id(), "w1", "visitor-b", "shop", NOW))
    second = await support.open_ticket(line_ticket(new_id(), "w1", "visitor-a", "help", NOW))
    assert first is not None and second is not None
    assert [t.id for t in await support.list_line_tickets("w1", client_id="visitor-a")] == [first.id, second.id]
    assert await support.list_line_tickets("w2", client_id="visitor-a") == []


async def test_the_widget_appearance_is_stored_with_the_workspace(workspaces: WorkspaceStore) -> None:
    made = workspace(new_widget_token())
    await workspaces.create(made)
    fresh = await workspaces.find(made.id)
    assert fresh is not None and (fresh.widget_color, fresh.widget_title) == (None, None)
    looks = await workspaces.set_widget_appearance(made.id, "#0b5d1e", "Shop help", NOW)
    assert (looks.widget_color, looks.widget_title, looks.widget_token) == ("#0b5d1e", "Shop help", made.widget_token)
    origins = await workspaces.set_widget_origins(made.id, ["https://shop.example.com"], NOW)
    assert (origins.widget_color, origins.widget_title) == ("#0b5d1e", "Shop help")
    back = await workspaces.set_widget_appearance(made.id, None, None, NOW)
    assert (back.widget_color, back.widget_title) == (None, None)
    with pytest.raises(NotFound):
        await workspaces.set_widget_appearance("missing", "#000000", None, NOW)


async def test_a_client_id_is_claimed_once_per_visitor_even_when_raced(visitors: VisitorStore) -> None:
    tries = [new_id() for _ in range(8)]
    winners = await asyncio.gather(*(visitors.claim_send("w1", "visitor-a", "client-1", m) for m in tries))
    assert len(set(winners)) == 1 and winners[0] in tries
    assert await visitors.claim_send("w1", "visitor-b", "client-1", "other") == "other", "another visitor's key"
    assert await visitors.claim_send("w2", "visitor-a", "client-1", "elsewhere") == "elsewhere"
    await visitors.release_send("w1", "visitor-a", "client-1", "not-the-claim")  # only the named claim goes
    assert await visitors.claim_send("w1", "visitor-a", "client-1", "late") == winners[0]
    await visitors.release_send("w1", "visitor-a", "client-1", winners[0])
    assert await visitors.claim_send("w1", "visitor-a", "client-1", "again") == "again"


async def test_a_visitors_email_and_a_tickets_one_rating(visitors: VisitorStore) -> None:
    assert await visitors.get_email("w1", "visitor-a") is None
    await visitors.set_email("w1", "visitor-a", "eve@example.com")
    await visitors.set_email("w1", "visitor-a", "eve@example.org")
    assert await visitors.get_email("w1", "visitor-a") == "eve@example.org"
    assert await visitors.get_email("w2", "visitor-a") is None

    rating = TicketRating(
        ticket_id="t1", workspace_id="w1", visitor_id="visitor-a", score=4, comment="ok", created_at=NOW
    )
    assert await visitors.get_rating("t1") is None
    results = await asyncio.gather(*(visitors.add_rating(rating.model_copy(update={"score": s})) for s in (1, 2, 3)))
    assert sorted(results) == [False, False, True], "one rating per ticket, whoever races"
    stored = await visitors.get_rating("t1")
    assert stored is not None and stored.score in (1, 2, 3) and stored.comment == "ok"
    assert stored.created_at == NOW
    assert not await visitors.add_rating(rating)
