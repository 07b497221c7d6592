"""Attachment store contract on both backends: the upload quota counter and expiry of unreferenced uploads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.common import utc_now
from models.errors import NotFound
from storage import open_database
from storage.attachments import AttachmentStore, make_attachment_store
from storage.database import Database, new_id

QUOTA = 1000


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def record(attachment_id: str, size: int, uploader: str = "u1", age: timedelta = timedelta()) -> AttachmentRecord:
    return AttachmentRecord(
        id=attachment_id,
        name="f.txt",
        size=size,
        content_type="text/plain",
        uploader_id=uploader,
        created_at=to_millis(utc_now() - age),
    )


@pytest.fixture
async def stores(settings_for: Any, backend: str) -> AsyncIterator[tuple[list[AttachmentStore], Database]]:
    """Two attachment stores on one fresh database, each on its own connection (as two instances would), and the
    first one's database."""
    settings = settings_for(backend)
    dbs: list[Database] = [await open_database(settings) for _ in range(2)]
    made = [make_attachment_store(db, settings) for db in dbs]
    for store in made:
        await store.init()
    yield made, dbs[0]
    for db in dbs:
        await db.close()


async def stored(store: AttachmentStore, size: int) -> str:
    attachment_id = new_id()
    await store.write(attachment_id, "f.txt", chunks(b"x" * size))
    return attachment_id


async def test_quota_counts_each_window_and_owner_and_refuses_past_it(stores: Any) -> None:
    store = stores[0][0]
    a, b, c = [await stored(store, 400) for _ in range(3)]
    assert await store.add_within_quota(record(a, 400), "user:u1", 7, QUOTA)
    assert await store.add_within_quota(record(b, 400), "user:u1", 7, QUOTA)
    assert not await store.add_within_quota(record(c, 400), "user:u1", 7, QUOTA)
    with pytest.raises(NotFound):
        await store.get(c)  # nothing stored when refused
    assert await store.usage("user:u1", 7) == 800
    assert await store.add_within_quota(record(c, 400), "user:u2", 7, QUOTA)  # another uploader
    d = await stored(store, 400)
    assert await store.add_within_quota(record(d, 400), "user:u1", 8, QUOTA)  # the next window
    e = await stored(store, 2000)
    assert not await store.add_within_quota(record(e, 2000), "user:u3", 7, QUOTA)  # bigger than the quota alone
    await store.drop_usage_before(8)
    assert await store.usage("user:u1", 7) == 0 and await store.usage("user:u1", 8) == 400


async def test_quota_holds_under_concurrent_uploads_on_two_connections(stores: Any) -> None:
    stores, _ = stores
    ids = [await stored(stores[0], 300) for _ in range(10)]
    results = await asyncio.gather(
        *(stores[n % 2].add_within_quota(record(i, 300), "user:u1", 1, QUOTA) for n, i in enumerate(ids))
    )
    assert sum(results) == 3
    assert await stores[0].usage("user:u1", 1) == 900
    kept = [i for i in ids if await _exists(stores[1], i)]
    assert len(kept) == 3


async def _exists(store: AttachmentStore, attachment_id: str) -> bool:
    try:
        await store.get(attachment_id)
        return True
    except NotFound:
        return False


async def _link(db: Any, attachment_id: str, uploader: str) -> None:
    """Link an upload to a ticket the way the helpdesk does, in a transaction of the backend."""
    if db.kind == "mongo":
        from storage.mongo.attachments import RECORDS, link_all

        async def attempt(session: Any) -> None:
            await link_all(db.db[RECORDS], [attachment_id], uploader, None, "helpdesk", "t1", session)

        await db.transaction(attempt)
    else:
        from storage.sqlite.attachments import tx_link_all

        async with db.transaction() as conn:
            await tx_link_all(conn, [attachment_id], uploader, None, "helpdesk", "t1")


async def test_only_old_unreferenced_uploads_expire_once_each(stores: Any) -> None:
    stores, db = stores
    store = stores[0]
    old, linked, fresh = [await stored(store, 10) for _ in range(3)]
    await store.add(record(old, 10, age=timedelta(hours=5)))
    await store.add(record(linked, 10, age=timedelta(hours=6)))
    await store.add(record(fresh, 10, age=timedelta(minutes=5)))
    await _link(db, linked, "u1")
    cutoff = utc_now() - timedelta(hours=1)
    assert await store.unlinked_before(cutoff, 100) == [old]
    both = await asyncio.gather(*(s.delete_if_unlinked(old) for s in stores))
    assert sorted(both) == [False, True]  # two instances sweep at once: one deletes
    assert not await _exists(store, old)
    with pytest.raises((NotFound, FileNotFoundError)):
        async for _ in store.read(old):
            pass
    assert not await store.delete_if_unlinked(linked)  # referenced meanwhile: kept
    assert await _exists(store, linked) and await _exists(store, fresh)
    assert b"".join([c async for c in store.read(linked)]) == b"x" * 10
